"""Command line: the parser, the dispatch to commands/<name>.py, and `drive`. Never imports Qt.

Each sub-command lives in its own module with `add_parser(sub)` and `run(args)`; heavy
libraries are imported inside `run`, so `explorer --help` is instant.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from typing import Callable

from .. import __version__

EXIT_ERROR, EXIT_CANCELLED = 2, 130

# in the order `explorer --help` lists them
COMMANDS = ("models", "layers", "embed", "project", "neighbours", "kernels", "patches", "cache", "export", "gui",
            "demo")


class Cancelled(Exception):
    pass


def drive(work, desc: str, unit: str = "img", quiet: bool = False, on_partial: Callable | None = None):
    """Run a generator of Steps under a tqdm bar; Ctrl-C closes it and raises Cancelled.

    A Step whose total changes, or whose count goes back, starts a new stage on the same bar
    (listing, then embedding). on_partial(partial, bar) sees intermediate results.
    """
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, dynamic_ncols=True, disable=quiet, file=sys.stderr)
    try:
        while True:
            try:
                step = next(work)
            except StopIteration as stop:
                return stop.value
            if on_partial is not None and step.partial is not None:
                on_partial(step.partial, bar)
            if step.total != bar.total or step.done < bar.n:
                bar.reset(total=step.total)
            if step.done > bar.n:
                bar.update(step.done - bar.n)
            if not step.label.endswith("/s"):  # tqdm shows the rate itself
                bar.set_postfix_str(step.label)
    except KeyboardInterrupt:
        work.close()
        raise Cancelled from None
    finally:
        bar.close()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="explorer", description="CNN Feature Explorer: see what a CNN has learned "
                                "about your images. Without a command: the desktop app.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command")
    for name in COMMANDS:
        import_module(f".commands.{name}", __package__).add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "gui"):
        parser.error("the desktop app starts from 'explorer' or 'python -m explorer' (explorer/__main__.py)")
    from ..core.errors import ExplorerError

    try:
        return args.func(args)
    except ExplorerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (Cancelled, KeyboardInterrupt):
        return EXIT_CANCELLED


if __name__ == "__main__":
    sys.exit(main())
