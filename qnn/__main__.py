"""Command line of the qnn-book: ``python -m qnn SUBCOMMAND``.

Subcommands
-----------
``data [FIGURE ...] [--d D] [--reps R] [--jobs J] [--scheduler ADDRESS]``
    Regenerate (or resume) the cached simulation data of the book (``book/data/FIGURE.json``); all registered
    figures when none is named. ``--list`` lists them with their defaults, ``--check`` reports which caches are
    missing or stale without computing anything.
``voila [APP] [--port P] [--browser] [--list]``
    Serve the interactive Voila apps (``apps/*.md``, see :mod:`qnn.voila`) on 127.0.0.1.

To add a subcommand: write ``_add_NAME(subparsers)`` that creates its parser and sets ``handler``, and append it
to ``SUBCOMMANDS``.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import figdata
from .voila import add_voila_subcommand


def _positive_or_all(text: str) -> int:
    value = int(text)
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or -1 (all cores), got {text}")
    return value


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text}")
        return value

    return parse


def _data(args: argparse.Namespace) -> int:
    figures = figdata.registry()
    if args.list:
        if not figures:
            print("no figures registered")
        for name, figure in figures.items():
            n_tasks = len(figdata.tasks_of(figure))
            print(f"{name:<16} d={figure.d:<4} reps={figure.reps:<3} tasks={n_tasks:<5} {figure.description}")
        return 0
    names = args.figures or list(figures)
    unknown = [name for name in names if name not in figures]
    if unknown:
        print(f"error: unknown figure(s) {unknown}; known: {list(figures)}", file=sys.stderr)
        return 2
    if args.check:
        status = 0
        for name in names:
            try:
                data = figdata.load(name, d=args.d, reps=args.reps)
            except figdata.CacheError as error:
                print(f"{name}: {error}")
                status = 1
            else:
                print(f"{name}: ok (d={data.d}, reps={data.reps}, {data.code_version})")
        return status
    for name in names:
        path = figdata.generate(name, d=args.d, reps=args.reps, jobs=args.jobs, scheduler=args.scheduler)
        print(f"{name}: wrote {path}")
    return 0


def _add_data(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data", help="regenerate the cached simulation data of the book's figures",
        description="Regenerate (resumably) the cached simulation data of the book (book/data/FIGURE.json). "
                    "An interrupted run resumes where it stopped when rerun with the same arguments.")
    parser.add_argument("figures", nargs="*", metavar="FIGURE", help="figure names (default: all registered)")
    parser.add_argument("--d", type=_at_least(2), default=None, help="input dimension (default: the figure's)")
    parser.add_argument("--reps", type=_at_least(1), default=None, help="repetitions (default: the figure's)")
    parser.add_argument("--jobs", type=_positive_or_all, default=1, help="parallel worker processes (-1: all cores)")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="run the tasks on a Dask cluster (e.g. tcp://host:8786); needs dask.distributed")
    parser.add_argument("--list", action="store_true", help="list the registered figures and exit")
    parser.add_argument("--check", action="store_true",
                        help="report missing/stale caches without computing (exit 1 if any)")
    parser.set_defaults(handler=_data)


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_data, add_voila_subcommand]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m qnn``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m qnn", description="qnn-book command line")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("\ninterrupted: finished tasks are kept; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
