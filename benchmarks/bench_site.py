"""Benchmark of the built site's weight and of how fast a page's first figures appear (benchmarks/README.md, SITE).

For each built site given (``_build/html`` folders; give the old and the new build to compare them side by side
on the same machine at the same load) it reports the site's size, the served plotly.js bundle and the HTML, and
for each timed page the time from the navigation start until every figure on the screen is drawn, the page being
opened at its first figure (``page.html#<id of its first figure>``, 1400 x 900 px, headless Debian Chromium, a
fresh browser context each time: nothing cached). The pages of the sites are visited interleaved (page 1 of site
A, page 1 of site B, ...), so that a change of the machine's load hits both alike; the load average is printed.

Usage::

    python benchmarks/bench_site.py DIR [DIR ...] [--repeat 3] [--pages book/longtime ...] [--json out.json]
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import statistics
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import CHROMIUM, CHROMIUM_FLAGS, first_figure_id, time_first_figures

PAGES = ("book/longtime", "book/learning_curves", "book/spectrum", "book/double_descent")
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "max-age=600")
        super().end_headers()


def serve(directory: Path, port: int = 0) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A local static server of ``directory`` (background thread); returns it and its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port),
                                            functools.partial(_Quiet, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def site_sizes(directory: Path) -> dict:
    files = [f for f in directory.rglob("*") if f.is_file()]
    bundles = sorted((directory / "_static").glob("plotly*.js"), key=lambda f: f.stat().st_size)
    return {"site_bytes": sum(f.stat().st_size for f in files),
            "bundle": bundles[-1].name if bundles else None,
            "bundle_bytes": bundles[-1].stat().st_size if bundles else 0,
            "html_bytes": sum(f.stat().st_size for f in files if f.suffix == ".html"),
            "csv_bytes": sum(f.stat().st_size for f in files if f.suffix == ".csv")}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pages", nargs="+", default=list(PAGES))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")
    from playwright.sync_api import sync_playwright

    results = {str(d): {**site_sizes(d), "pages": {p: [] for p in args.pages}} for d in args.dirs}
    servers = [serve(d) for d in args.dirs]
    load = [os.getloadavg()]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        for _ in range(args.repeat):
            for page in args.pages:
                for directory, (_, base) in zip(args.dirs, servers):
                    run = time_first_figures(browser, base, page, first_figure_id(directory, page))
                    run["context"].close()
                    results[str(directory)]["pages"][page].append(
                        {"ms": round(run["ms"]), "cpu_ms": round(run["cpu_ms"]), "far": len(run["far_drawn"]),
                         "far_drawn": sum(run["far_drawn"])})
        browser.close()
    load.append(os.getloadavg())
    for httpd, _ in servers:
        httpd.shutdown()
    for directory, result in results.items():
        print(f"{directory}: site {result['site_bytes'] / 1e6:.2f} MB, {result['bundle']} "
              f"{result['bundle_bytes'] / 1e6:.2f} MB, HTML {result['html_bytes'] / 1e6:.2f} MB, "
              f"CSV {result['csv_bytes'] / 1e6:.2f} MB")
        for page, runs in result["pages"].items():
            times = [r["ms"] for r in runs]
            cpu = [r["cpu_ms"] for r in runs]
            print(f"  {page}: median {statistics.median(times):.0f} ms {times}, main-thread CPU median "
                  f"{statistics.median(cpu):.0f} ms {cpu}; figures > 3 screens below (when the first were drawn): "
                  f"{runs[0]['far']}, drawn {[r['far_drawn'] for r in runs]}")
    print(f"load average (1, 5, 15 min) before {load[0]}, after {load[1]}")
    summary = {"load": load, "results": results}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
