"""Nothing here belongs to the test suite: check.py is a script with figures, run by hand."""

collect_ignore = ["check.py"]
