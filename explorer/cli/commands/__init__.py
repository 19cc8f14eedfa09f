"""One module per sub-command: `add_parser(sub)` declares it, `run(args)` does it (exit code)."""
