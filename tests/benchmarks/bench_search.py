"""Search and metadata colourings on 1M file paths (core analysis.metadata, no Qt).

The app searches runs up to search_panel.SYNC_LIMIT images on the GUI thread and bigger ones in
the analysis lane; colourings always run in the lane. This prints what each costs.

    .venv/bin/python tests/benchmarks/bench_search.py [--n 1000000]
"""

import argparse
import os
import tempfile
import time

from explorer.core.analysis.metadata import colour_by_csv, colour_by_regex, search_paths


def timed(label, fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    print(f"{label:<48} {best * 1000:8.1f} ms")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    n = ap.parse_args().n
    paths = [f"class{i % 100}/design{i % 7}_object{i}.png" for i in range(n)]
    print(f"{n:,} paths")
    timed("search, substring 'object12'", lambda: search_paths(paths, "object12"))
    timed("search, regex design[34]_object1\\d*5\\.png", lambda: search_paths(paths, r"design[34]_object1\d*5\.png",
                                                                               regex=True))
    small = paths[:50_000]
    timed("search, substring, 50k paths (the on-the-spot limit)", lambda: search_paths(small, "object12"))
    timed("colour by regex group ^([a-z]+\\d)_", lambda: colour_by_regex(paths, r"^([a-z]+\d)_"), repeat=1)
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "meta.csv")
        with open(csv, "w") as f:
            f.write("path,score\n")
            f.writelines(f"{p},{i % 997}\n" for i, p in enumerate(paths))
        timed("colour by a CSV column (numbers, ramp)", lambda: colour_by_csv(paths, "/data", csv, "score"), repeat=1)


if __name__ == "__main__":
    main()
