"""`explorer` / `python -m explorer`: the app without a command (or with `gui`), else the CLI."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from .cli import build_parser, main as cli_main

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command not in (None, "gui"):
        return cli_main(argv)
    from .gui.app import run_app

    return run_app(getattr(args, "dataset", None), getattr(args, "model", None), getattr(args, "layer", None),
                   getattr(args, "projection", None), getattr(args, "weights", None),
                   getattr(args, "screenshot", None))


if __name__ == "__main__":
    sys.exit(main())
