"""python -m explorer: the CLI with a sub-command, the demo without one."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
