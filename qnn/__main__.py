"""Command line of the qnn-book: ``python -m qnn SUBCOMMAND``.

Subcommands
-----------
``data [FIGURE ...] [--d D] [--reps R] [--jobs J] [--scheduler ADDRESS] [--out DIR] [--force]``
    Regenerate (or resume) the cached data of the book (``book/data/FIGURE.json``); all registered figures when
    none is named. Other sizes than a figure's defaults go to ``--out DIR`` (or need ``--force``). ``--list``
    lists the figures with their defaults; ``--check`` verifies the caches (checksum, schema, code version, sizes,
    task list) and recomputes tasks as ``--recompute`` says (default ``theory``: every theory task, which is
    cheap; ``sample``: also each simulation figure's seeded sample, ``--check-seed``; ``all``: every task);
    ``--upgrade`` converts format-1 caches to the current format.
``voila [APP] [--port P] [--browser] [--list]``
    Serve the interactive Voila apps (``apps/*.md``, see :mod:`qnn.apps.launcher`) on 127.0.0.1.

To add a subcommand: write ``_add_NAME(subparsers)`` that creates its parser and sets ``handler``, and append it
to ``SUBCOMMANDS``.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import figdata
from .apps.launcher import add_voila_subcommand


def _positive_or_all(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or -1 (all cores), got {text!r}")
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


def _list(figures: dict[str, figdata.FigureSpec]) -> int:
    if not figures:
        print("no figures registered")
    for name, figure in figures.items():
        size = "theory" if figure.deterministic else f"d={figure.d} reps={figure.reps}"
        print(f"{name:<20} {size:<14} tasks={figdata.task_count(figure):<5} {figure.description}")
    return 0


def _check_one(name: str, figure: figdata.FigureSpec, args: argparse.Namespace) -> bool:
    recompute = args.recompute
    sample: int | str | None = None
    if recompute == "all":
        sample = "all"
    elif recompute == "none" or (recompute == "theory" and not figure.deterministic):
        sample = 0
    try:
        if sample == 0:
            data = figdata.load(name, d=args.d, reps=args.reps, data_dir=args.out)
            checked = "not recomputed"
        else:
            outcome = figdata.verify(name, sample=sample, seed=args.check_seed, d=args.d, reps=args.reps,
                                     data_dir=args.out)
            if not outcome.ok:
                print(f"{name}: differs from the current code:\n  " + "\n  ".join(outcome.problems))
                return False
            data = figdata.load(name, d=args.d, reps=args.reps, data_dir=args.out)
            checked = f"{len(outcome.checked)} task(s) recomputed agree ({outcome.seconds:.0f} s)"
    except figdata.CacheError as error:
        print(f"{name}: {error}")
        return False
    except Exception as error:  # a damaged cache must not stop the check of the others
        print(f"{name}: error ({type(error).__name__}: {error})")
        return False
    size = ", ".join(f"{k}={v}" for k, v in data.params.items()) or "theory"
    print(f"{name}: ok ({size}, {data.code_version}; {checked})")
    return True


def _data(args: argparse.Namespace) -> int:
    figures = figdata.registry()
    if args.list:
        return _list(figures)
    names = args.figures or list(figures)
    unknown = [name for name in names if name not in figures]
    if unknown:
        print(f"error: unknown figure(s) {unknown}; known: {list(figures)}", file=sys.stderr)
        return 2
    if args.check:
        results = [_check_one(name, figures[name], args) for name in names]
        return 0 if all(results) else 1
    if args.upgrade:
        for name in names:
            print(f"{name}: {figdata.upgrade(name, data_dir=args.out)}")
        return 0
    try:
        if args.scheduler is not None:
            figdata.dask_client()
        for name in names:
            path = figdata.generate(name, d=args.d, reps=args.reps, jobs=args.jobs, scheduler=args.scheduler,
                                    data_dir=args.out, force=args.force)
            print(f"{name}: wrote {path}")
    except (ValueError, ImportError, figdata.CacheError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
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
    parser.add_argument("--out", metavar="DIR", type=Path, default=None,
                        help="folder of the cache files (default: book/data); required for non-default --d/--reps")
    parser.add_argument("--force", action="store_true",
                        help="allow non-default --d/--reps in book/data (load and --check will refuse that cache)")
    parser.add_argument("--list", action="store_true", help="list the registered figures and exit")
    parser.add_argument("--check", action="store_true",
                        help="verify the caches against the code (exit 1 if any is missing, stale or differs)")
    parser.add_argument("--recompute", choices=("none", "theory", "sample", "all"), default="theory",
                        help="with --check: tasks to recompute (default theory: every theory task; sample: also "
                             "each simulation figure's seeded sample; all: every task)")
    parser.add_argument("--check-seed", type=_at_least(0), default=None,
                        help="seed of the rotating sample (default: $QNN_CHECK_SEED or 0)")
    parser.add_argument("--upgrade", action="store_true", help="convert format-1 caches to the current format")
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
        status = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return status
    except KeyboardInterrupt:
        print("\ninterrupted: finished tasks are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. ``python -m qnn data --list | head -2``: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
