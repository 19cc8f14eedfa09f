"""One exact nearest-neighbour query over 100k x 512 features (target: under 50 ms on 2 cores)."""

import time

import numpy as np

from explorer.core.analysis.neighbours import NeighbourIndex


def main(n=100_000, d=512, k=10, queries=200):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(n, d)).astype(np.float16)  # stored dtype of a run
    for metric in ("cosine", "euclidean"):
        t = time.perf_counter()
        index = NeighbourIndex(features, metric=metric)
        build = time.perf_counter() - t
        times = []
        for q in rng.integers(0, n, queries):
            t = time.perf_counter()
            index.query(int(q), k)
            times.append(time.perf_counter() - t)
        times = np.array(times) * 1000
        print(f"{metric:<9} {n:,} x {d}: build {build * 1000:.0f} ms; query median {np.median(times):.1f} ms, "
              f"p95 {np.percentile(times, 95):.1f} ms, max {times.max():.1f} ms (target < 50 ms)")


if __name__ == "__main__":
    main()
