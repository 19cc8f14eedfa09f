"""`explorer` / `python -m explorer`: the app without a command (or with `gui`), else the CLI."""

from __future__ import annotations

import os
import sys


import time

_T0 = time.perf_counter()  # cold-start timings are measured from here


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--self-test":
        import argparse

        from .selftest import run_self_test

        from .resources import command_name

        p = argparse.ArgumentParser(prog=f"{command_name()} --self-test")
        p.add_argument("--self-test", action="store_true")
        p.add_argument("--report", default=None, help="where to write the JSON report")
        p.add_argument("--screenshot", default=None, help="where to write the window PNG")
        args = p.parse_args(argv)
        return run_self_test(args.report, args.screenshot, _T0)
    from .cli.main import COMMANDS, build_parser, main as cli_main

    if argv and argv[0] not in COMMANDS and os.path.exists(argv[0]):
        argv.insert(0, "gui")  # the menu entry's `cnn-feature-explorer %f`: a folder dropped on the launcher
    args = build_parser().parse_args(argv)
    if args.command not in (None, "gui"):
        return cli_main(argv)
    from .gui.app import run_app

    return run_app(getattr(args, "dataset", None), getattr(args, "model", None), getattr(args, "layer", None),
                   getattr(args, "projection", None), getattr(args, "weights", None),
                   getattr(args, "screenshot", None))


def run() -> None:
    """The process entry point (the `explorer` script and `python -m explorer`)."""
    from .allocator import tune

    tune()  # before any thread exists (allocator.py says why)
    code = main()
    if code == 130:  # Ctrl-C: the work is closed and saved by now; the interpreter's teardown of torch alone
        sys.stdout.flush()  # takes about a second, which is what made Ctrl-C feel slow: skip it
        sys.stderr.flush()
        import os

        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    import multiprocessing

    multiprocessing.freeze_support()  # DataLoader workers in a frozen (PyInstaller) bundle
    run()
