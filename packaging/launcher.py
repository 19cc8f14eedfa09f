"""Entry point of the frozen app (PyInstaller): the same main as `python -m explorer`."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # DataLoader worker processes re-enter here in a bundle
    from explorer.__main__ import main

    sys.exit(main())
