"""Command line: the parser, the dispatch to commands/<name>.py, and `drive`. Never imports Qt.

Each sub-command lives in its own module with `add_parser(sub)` and `run(args)`; heavy
libraries are imported inside `run`, so `explorer --help` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module
from typing import Callable

from .. import __version__
from ..resources import command_name, own_command

EXIT_ERROR, EXIT_CANCELLED, EXIT_BROKEN_PIPE, EXIT_INTERNAL = 2, 130, 141, 1

# in the order `explorer --help` lists them
COMMANDS = ("models", "layers", "embed", "project", "neighbours", "kernels", "patches", "explain", "perturb", "predict", "accuracy", "robustness", "probe", "label-issues", "duplicates", "finetune", "visualise", "cache", "export", "gui",
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
    except BaseException:
        bar.leave = False  # an error: its one line replaces the bar, rather than following it
        raise
    finally:
        bar.close()


class Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported on one line (no usage block) and exit code 2."""

    def error(self, message: str):
        self.exit(EXIT_ERROR, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=command_name(), description="CNN Feature Explorer: see what a CNN has learned "
                                "about your images. Without a command: the desktop app.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command")
    for name in COMMANDS:
        import_module(f".commands.{name.replace('-', '_')}", __package__).add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure is a one-line message on stderr, never a traceback.

    Exit codes: 0 done, 2 a problem the user can fix (a bad argument, a file, a folder), 130
    cancelled, 141 the reader of our output went away (`explorer ... | head`), 1 a bug (the
    message says so; EXPLORER_DEBUG=1 shows the traceback).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command in (None, "gui"):
            parser.error("the desktop app starts from 'explorer' or 'python -m explorer' (explorer/__main__.py)")
    except SystemExit as exc:  # --help, --version, or a bad argument (already reported)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_ERROR)
    if getattr(args, "threads", None):  # read by core.threads.free_cores wherever threads are sized
        os.environ["EXPLORER_THREADS"] = str(args.threads)
    from ..core.errors import ExplorerError

    try:  # a file name that is not UTF-8 is printed as its own bytes (as `ls` does), not an error
        sys.stdout.reconfigure(errors="surrogateescape")
    except (AttributeError, ValueError):  # not a text file (captured, replaced)
        pass
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except BrokenPipeError:
        return _reader_gone()
    except ExplorerError as exc:
        return _fail(str(exc))
    except (Cancelled, KeyboardInterrupt):
        return EXIT_CANCELLED
    except OSError as exc:  # a file or folder the checks could not foresee (permissions, a full disk)
        return _fail(describe_os_error(exc))
    except Exception as exc:  # a bug: still one line, with the way to see more
        if os.environ.get("EXPLORER_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        return _fail(f"unexpected {type(exc).__name__}: {first} (this is a bug; run again with EXPLORER_DEBUG=1 "
                     "to see where, and please report it)", EXIT_INTERNAL)


def _fail(message: str, code: int = EXIT_ERROR) -> int:
    try:
        print(f"error: {own_command(message)}", file=sys.stderr)
    except (BrokenPipeError, ValueError):
        pass
    return code


def _reader_gone() -> int:
    """`explorer ... | head`: the reader closed the pipe. As Python's documentation recommends, point
    stdout at devnull so the interpreter's final flush cannot fail again, and exit like a tool that
    died of SIGPIPE (128 + 13), without a word."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a file (captured, replaced)
        pass
    return EXIT_BROKEN_PIPE


def describe_os_error(exc: OSError) -> str:
    """'PATH: what went wrong' on one line, with what to do for the common causes."""
    import errno

    where = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    text = exc.strerror or str(exc) or type(exc).__name__
    hint = {errno.EACCES: "no permission: make it writable or choose another place",
            errno.EPERM: "not permitted: make it writable or choose another place",
            errno.EROFS: "a read-only file system: choose another place",
            errno.ENOSPC: "the disk is full: free some space or choose another place",
            errno.ENOTDIR: "a part of the path is a file, not a folder",
            errno.EISDIR: "a folder where a file was expected"}.get(exc.errno)
    return f"{where + ': ' if where else ''}{text}{f' ({hint})' if hint else ''}"


if __name__ == "__main__":
    sys.exit(main())
