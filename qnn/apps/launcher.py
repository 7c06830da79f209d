"""Launcher of the qnn-book's Voila apps: ``python -m qnn voila [APP]``.

The apps are thin MyST notebooks ``apps/<name>.md`` (their logic lives in :mod:`qnn.apps`, one module per app).
Voila 0.5 cannot serve MyST markdown, so :func:`build_app_notebooks` converts them with jupytext into the
gitignored folder ``book/_voila/`` (only when the source is newer), and :func:`serve` starts Voila on 127.0.0.1
(:class:`qnn.apps.server.VoilaServer`) with

* **pre-heated kernels** (Voila's ``preheat_kernel``): one kernel per app is started and runs the app's notebook
  before anyone asks for it, so a page is served with its first figure already computed; a used kernel is replaced
  :data:`REFILL_DELAY` seconds later (not at once: the refill would compete with the page just opened);
* the book's template ``apps/share/voila/templates/qnn``: Voila's "lab" template without the Font Awesome
  stylesheets it fetches from a CDN (an app page requests nothing from outside its server), a layout that wraps on
  a phone, and a list page of its own (``tree.html``: each app in words, with its description and a link to its
  book page; no JupyterLab tree application, hence no kernel requests nor plugin errors on that page);
* the built book (``_build/html``, or ``$QNN_BOOK_HTML``) served under ``/book/``, so that the apps' texts and the
  list page link to the book's pages;
* the jupytext front-end extension denied (it raises a JavaScript error inside Voila).

Voila runs through ``python -m qnn.apps.launcher VOILA-ARGS`` (:func:`run_voila`), which puts ``apps/share`` on
``JUPYTER_PATH`` so that Voila finds the template and adds the list of apps and the ``/book/`` route. Tracebacks of
failing cells are hidden unless asked for (``--show-tracebacks``): the apps catch bad input themselves and print a
message, so a traceback means a bug. SIGTERM or SIGINT (Ctrl-C) to the launcher stops Voila and every kernel it
started (:meth:`qnn.apps.server.VoilaServer.stop`).

Without an app name the folder is served: the list page of the apps.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import app_modules
from .base import WIDGET_JS_ENV
from .server import VoilaServer

__all__ = ["APPS", "APPS_DIR", "BUILD_DIR", "TEMPLATE_ROOT", "BOOK_HTML", "AppEntry", "app_entries", "app_source",
           "build_app_notebooks", "voila_command", "free_port", "serve", "run_voila", "add_voila_subcommand",
           "REFILL_DELAY"]

ROOT = Path(__file__).resolve().parents[2]
#: Folder of the app notebooks (MyST markdown, in the repository).
APPS_DIR = ROOT / "apps"
#: Gitignored folder the converted ``.ipynb`` notebooks are written to.
BUILD_DIR = ROOT / "book" / "_voila"
#: Jupyter data folder holding the book's Voila template ``voila/templates/qnn`` (put on ``JUPYTER_PATH``).
TEMPLATE_ROOT = APPS_DIR / "share"
#: Name of that template.
TEMPLATE = "qnn"
#: The apps: name -> one-line description, from the ``NAME`` and ``DESCRIPTION`` each app module of
#: :mod:`qnn.apps` declares (:func:`qnn.apps.app_modules`).
APPS: dict[str, str] = {module.NAME: module.DESCRIPTION for module in app_modules()}
#: Book page of each app (``book/<page>.md``, built to ``<page>.html``), from the modules' ``BOOK_PAGE``.
BOOK_PAGES: dict[str, str] = {module.NAME: module.BOOK_PAGE for module in app_modules()}
#: The built book served under ``/book/`` (``$QNN_BOOK_HTML`` overrides it).
BOOK_HTML = Path(os.environ.get("QNN_BOOK_HTML", ROOT / "_build" / "html"))
DEFAULT_PORT = 8866
#: Seconds Voila waits before replacing a pre-heated kernel that a page took (warming a kernel costs several seconds
#: of CPU: not while the page just opened computes its first slider moves).
REFILL_DELAY = 60.0


@dataclass(frozen=True)
class AppEntry:
    """One line of the list page: the app's ``name``, its ``title`` (the notebook's heading), ``description`` and
    the book page it belongs to (``book_page``, a page name; ``book_title`` its heading)."""

    name: str
    title: str
    description: str
    book_page: str
    book_title: str


def _heading(path: Path) -> str:
    match = re.search(r"^# (.+)$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return match.group(1).strip() if match else path.stem.replace("_", " ")


def app_entries(source_dir: Path = APPS_DIR) -> list[AppEntry]:
    """The apps as the list page shows them, in the order of :data:`APPS`."""
    return [AppEntry(name=name, title=_heading(app_source(name, source_dir)), description=description,
                     book_page=BOOK_PAGES[name], book_title=_heading(ROOT / "book" / f"{BOOK_PAGES[name]}.md"))
            for name, description in APPS.items()]


def app_source(name: str, source_dir: Path = APPS_DIR) -> Path:
    """Path of the MyST notebook of app ``name`` (one of :data:`APPS`)."""
    if name not in APPS:
        raise ValueError(f"app must be one of {sorted(APPS)}, got {name!r}")
    path = Path(source_dir) / f"{name}.md"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run from a checkout of the qnn-book repository "
                                f"(the apps are not part of the installed package)")
    return path


def build_app_notebooks(names: Sequence[str] | None = None, *, source_dir: Path = APPS_DIR,
                        build_dir: Path = BUILD_DIR, force: bool = False) -> list[Path]:
    """Convert the apps' MyST notebooks to ``.ipynb`` (jupytext) for Voila.

    Parameters
    ----------
    names : sequence of str, optional
        Apps to convert (default: all of :data:`APPS`).
    source_dir, build_dir : Path
        Where the ``.md`` sources are and where the ``.ipynb`` go (created if missing).
    force : bool
        Convert even when the ``.ipynb`` is newer than its source.

    Returns
    -------
    list of Path
        The notebooks, in the order of ``names``.
    """
    import jupytext

    names = list(APPS) if names is None else list(names)
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        source = app_source(name, source_dir)
        target = build_dir / f"{name}.ipynb"
        if force or not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
            notebook = jupytext.read(source)
            notebook.metadata.pop("jupytext", None)   # a plain notebook: no jupytext pairing inside Voila
            notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
            jupytext.write(notebook, target, fmt="ipynb")
        out.append(target)
    return out


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def voila_command(target: Path, port: int, *, open_browser: bool = False, show_tracebacks: bool = False,
                  preheat: bool = True, refill_delay: float = REFILL_DELAY) -> list[str]:
    """The command line that serves ``target`` (a notebook or a folder) with Voila on 127.0.0.1:``port``.

    It runs Voila through :func:`run_voila` (``python -m qnn.apps.launcher``) with the book's template and the
    classic (template-rendered) list page; ``show_tracebacks`` shows the traceback of a failing cell in the page
    (default: Voila's generic error message only); ``preheat`` keeps one pre-heated kernel per notebook, replaced
    ``refill_delay`` seconds after a page took it.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be an integer in [1, 65535], got {port!r}")
    if not (isinstance(refill_delay, (int, float)) and 0 <= refill_delay < float("inf")):
        raise ValueError(f"refill_delay must be a number of seconds in [0, inf), got {refill_delay!r}")
    command = [sys.executable, "-m", "qnn.apps.launcher", str(target), f"--port={port}", "--Voila.ip=127.0.0.1",
               f"--template={TEMPLATE}", f"--show_tracebacks={bool(show_tracebacks)}",
               "--VoilaConfiguration.extension_denylist=jupyterlab-jupytext", "--classic_tree=True"]
    if preheat:
        command += ["--preheat_kernel=True", "--pool_size=1", f"--VoilaKernelManager.fill_delay={float(refill_delay)}"]
    if not open_browser:
        command.append("--no-browser")
    return command


#: Path under which the launcher's Voila serves plotly's widget code (see :func:`qnn.apps.base.figure_widget`).
WIDGET_JS_PATH = "/qnn-static/widgetbundle.js"


def _book_voila_class():
    """Voila's application with the list of apps for the list page, the built book under ``/book/`` and plotly's
    widget code under :data:`WIDGET_JS_PATH` (its URL given to the kernels in ``$QNN_APPS_WIDGET_JS``)."""
    import plotly
    import tornado.web
    from jupyter_server.utils import url_path_join
    from voila.app import Voila

    class BookVoila(Voila):
        def init_settings(self):
            os.environ[WIDGET_JS_ENV] = f"http://127.0.0.1:{self.port}{WIDGET_JS_PATH}"   # for every kernel below
            settings = super().init_settings()
            settings["voila_jinja2_env"].globals.update(
                qnn_apps=app_entries(), qnn_book_built=(BOOK_HTML / "index.html").exists())
            return settings

        def init_handlers(self):
            book = (url_path_join(self.server_url, r"/book/(.*)"), tornado.web.StaticFileHandler,
                    {"path": str(BOOK_HTML), "default_filename": "index.html"})
            widget_js = (url_path_join(self.server_url, WIDGET_JS_PATH.rsplit("/", 1)[0], r"(widgetbundle\.js)"),
                         tornado.web.StaticFileHandler, {"path": str(Path(plotly.__file__).parent / "package_data")})
            return [book, widget_js, *super().init_handlers()]

    return BookVoila


def run_voila(argv: Sequence[str]) -> int:
    """Run Voila in this process with command-line arguments ``argv``, :data:`TEMPLATE_ROOT` first on
    ``JUPYTER_PATH`` (so that ``--template=qnn`` is found); what ``python -m qnn.apps.launcher ARGS`` does."""
    paths = [str(TEMPLATE_ROOT), *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep))]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(paths)
    sys.argv = ["voila", *argv]
    return int(_book_voila_class().launch_instance() or 0)


class _Stop(Exception):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signum)


def serve(app: str | None = None, *, port: int = DEFAULT_PORT, open_browser: bool = False,
          show_tracebacks: bool = False, preheat: bool = True) -> int:
    """Convert the notebooks and run Voila in the foreground until SIGINT (Ctrl-C) or SIGTERM.

    Either signal stops Voila and every kernel it started (:meth:`~qnn.apps.server.VoilaServer.stop`); the return
    value is then ``128 + signal number`` (130 for Ctrl-C), else Voila's exit status.

    Parameters
    ----------
    app : str, optional
        One of :data:`APPS`; ``None`` serves the folder of all apps (a list page).
    port : int
        Port on 127.0.0.1 (``0``: a free one).
    open_browser : bool
        Let Voila open the system's browser.
    show_tracebacks : bool
        Show the traceback of a failing cell in the page (for debugging an app).
    preheat : bool
        Keep a pre-heated kernel per app (its first figure computed before a page asks for it).
    """
    if app is not None and app not in APPS:
        raise ValueError(f"app must be one of {sorted(APPS)}, got {app!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer in [0, 65535] (0: a free one), got {port!r}")
    notebooks = build_app_notebooks([app] if app else None)
    port = port or free_port()
    if not _port_is_free(port):
        raise ValueError(f"port {port} on 127.0.0.1 is in use: choose another with --port (0 picks a free one)")
    target = notebooks[0] if app else BUILD_DIR
    server = VoilaServer(voila_command(target, port, open_browser=open_browser, show_tracebacks=show_tracebacks,
                                       preheat=preheat), ROOT)
    previous = {signum: signal.signal(signum, _raise_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        print(f"Serving {'app ' + app if app else 'the apps'} at http://127.0.0.1:{port}/ (Ctrl-C to stop); "
              f"{'warming one kernel per app' if preheat else 'each page starts its kernel (~30 s)'}", flush=True)
        announced: set[str] = set()
        while server.poll() is None:
            server.remember_processes()
            for record in server.ready():
                if record["preheated"] and record["app"] not in announced:
                    announced.add(record["app"])
                    print(f"  {record['app']}: ready (pre-heated kernel, first figure computed)", flush=True)
            time.sleep(0.5)
        return server.stop()
    except _Stop as stop:
        for signum in previous:               # a second signal must not interrupt the clean stop
            signal.signal(signum, signal.SIG_IGN)
        print(f"Stopping Voila and its kernels ({signal.Signals(stop.signum).name})…", flush=True)
        server.stop()
        return 128 + stop.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _voila(args: argparse.Namespace) -> int:
    if args.list:
        for name, description in APPS.items():
            print(f"{name:<16} {description}")
        return 0
    try:
        return serve(args.app, port=args.port, open_browser=args.browser, show_tracebacks=args.show_tracebacks,
                     preheat=not args.no_preheat)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def add_voila_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Add ``voila [APP] [--port P] [--browser] [--list] [--show-tracebacks] [--no-preheat]`` to the
    ``python -m qnn`` command line."""
    parser = subparsers.add_parser(
        "voila", help="start the interactive Voila apps on 127.0.0.1",
        description="Convert the app notebooks (apps/*.md) and serve them with Voila on 127.0.0.1. "
                    "Without APP, a page listing all apps is served.")
    parser.add_argument("app", nargs="?", choices=sorted(APPS), metavar="APP",
                        help=f"one of {', '.join(APPS)} (default: all, as a list page)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: a free one)")
    parser.add_argument("--browser", action="store_true", help="open the system's web browser")
    parser.add_argument("--list", action="store_true", help="list the apps and exit")
    parser.add_argument("--show-tracebacks", action="store_true",
                        help="show the traceback of a failing cell in the page (default: hidden; for debugging)")
    parser.add_argument("--no-preheat", action="store_true",
                        help="start each page's kernel when the page is opened (default: one pre-heated kernel per "
                             "app, its first figure computed in advance)")
    parser.set_defaults(handler=_voila)


if __name__ == "__main__":
    sys.exit(run_voila(sys.argv[1:]))
