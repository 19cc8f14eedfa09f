"""One exact nearest-neighbour query over 100k x 512 features (target: under 50 ms on 2 cores), and a
batch of 1,000 queries: `query_many` against the same queries one by one and scikit-learn's brute force."""

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



def batch(n=100_000, d=512, k=10, queries=1000):
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(1)
    features = rng.normal(size=(n, d)).astype(np.float16)
    index = NeighbourIndex(features, metric="cosine")
    q = rng.choice(n, queries, replace=False)
    t = time.perf_counter()
    found, _ = index.query_many(q, k)
    many = time.perf_counter() - t
    t = time.perf_counter()
    single = [index.query(int(i), k) for i in q[:100]]
    one_by_one = (time.perf_counter() - t) * queries / 100
    assert all(list(found[j]) == [nb.index for nb in s] for j, s in enumerate(single))
    nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute").fit(features.astype(np.float32))
    t = time.perf_counter()
    nn.kneighbors(features[q].astype(np.float32))
    sk = time.perf_counter() - t
    print(f"batch of {queries:,} cosine queries over {n:,} x {d}: query_many {many:.2f} s, one by one {one_by_one:.2f} s "
          f"(estimated from 100), scikit-learn brute {sk:.2f} s")


if __name__ == "__main__":
    main()
    batch()
