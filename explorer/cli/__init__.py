"""The command line: `main` parses and dispatches; one module per sub-command lives in commands/."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
