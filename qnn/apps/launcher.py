"""Launcher of the qnn-book's Voila apps: ``python -m qnn voila [APP]``.

The apps are thin MyST notebooks ``apps/<name>.md`` (their logic lives in :mod:`qnn.apps`, one module per app).
Voila 0.5 cannot serve MyST markdown, so :func:`build_app_notebooks` converts them with jupytext into the
gitignored folder ``book/_voila/`` (only when the source is newer), and :func:`serve` starts Voila on 127.0.0.1
with flags that keep it local and quiet (the jupytext front-end extension denied: it raises a JavaScript error
inside Voila) and the book's template ``apps/share/voila/templates/qnn`` (Voila's "lab" template without the Font
Awesome stylesheets it fetches from a CDN: an app page requests nothing from outside its server). Voila runs
through ``python -m qnn.apps.launcher VOILA-ARGS`` (:func:`run_voila`), which puts ``apps/share`` on ``JUPYTER_PATH`` so
that Voila finds the template. Tracebacks of failing cells are hidden unless asked for (``--show-tracebacks``):
the apps catch bad input themselves and print a message, so a traceback means a bug.

Without an app name the folder is served: Voila then shows a list of the apps.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from . import app_modules

__all__ = ["APPS", "APPS_DIR", "BUILD_DIR", "TEMPLATE_ROOT", "app_source", "build_app_notebooks", "voila_command",
           "free_port", "serve", "run_voila", "add_voila_subcommand"]

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
DEFAULT_PORT = 8866


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


def voila_command(target: Path, port: int, *, open_browser: bool = False, show_tracebacks: bool = False) -> list[str]:
    """The command line that serves ``target`` (a notebook or a folder) with Voila on 127.0.0.1:``port``.

    It runs Voila through :func:`run_voila` (``python -m qnn.apps.launcher``) with the book's template;
    ``show_tracebacks``
    shows the traceback of a failing cell in the page (default: Voila's generic error message only).
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be an integer in [1, 65535], got {port!r}")
    command = [sys.executable, "-m", "qnn.apps.launcher", str(target), f"--port={port}", "--Voila.ip=127.0.0.1",
               f"--template={TEMPLATE}", f"--show_tracebacks={bool(show_tracebacks)}",
               "--VoilaConfiguration.extension_denylist=jupyterlab-jupytext"]
    if not open_browser:
        command.append("--no-browser")
    return command


def run_voila(argv: Sequence[str]) -> int:
    """Run Voila in this process with command-line arguments ``argv``, :data:`TEMPLATE_ROOT` first on
    ``JUPYTER_PATH`` (so that ``--template=qnn`` is found); what ``python -m qnn.apps.launcher ARGS`` does."""
    paths = [str(TEMPLATE_ROOT), *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep))]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(paths)
    from voila.app import main

    sys.argv = ["voila", *argv]
    return int(main() or 0)


def serve(app: str | None = None, *, port: int = DEFAULT_PORT, open_browser: bool = False,
          show_tracebacks: bool = False) -> int:
    """Convert the notebooks and run Voila in the foreground until Ctrl-C; returns Voila's exit status.

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
    print(f"Serving {'app ' + app if app else 'the apps'} at http://127.0.0.1:{port}/ (Ctrl-C to stop; "
          f"the first page takes ~30 s to start its kernel)", flush=True)
    try:
        command = voila_command(target, port, open_browser=open_browser, show_tracebacks=show_tracebacks)
        return subprocess.call(command, cwd=ROOT)
    except KeyboardInterrupt:
        return 130


def _voila(args: argparse.Namespace) -> int:
    if args.list:
        for name, description in APPS.items():
            print(f"{name:<16} {description}")
        return 0
    try:
        return serve(args.app, port=args.port, open_browser=args.browser, show_tracebacks=args.show_tracebacks)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def add_voila_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Add ``voila [APP] [--port P] [--browser] [--list] [--show-tracebacks]`` to the ``python -m qnn`` command line."""
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
    parser.set_defaults(handler=_voila)


if __name__ == "__main__":
    sys.exit(run_voila(sys.argv[1:]))
