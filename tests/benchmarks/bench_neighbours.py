"""Exact nearest neighbours (analysis.neighbours), three figures:

- one query over 100k x 512 float16 features (target: under 50 ms on 2 cores);
- a batch of 1,000 queries: `query_many` against faiss flat (IndexFlatIP on normalised float32
  vectors; target: within 2x) and scikit-learn's brute force; faiss is not a dependency: without
  it that line says so (`pip install faiss-cpu` to compare);
- memory at 200k x 1280 (a memory-mapped float16 features.npy, as a run keeps it): what the index
  holds and the peak allocated through a query and a batch, in a child process (tracemalloc).

- with --approximate N (issue 16): the inverted-file index of analysis.approximate on N x --dim clustered
  float16 features (low intrinsic dimension, as CNN features): build time, recall@10 against exact
  search over 200 queries, and the query time.

    .venv/bin/python tests/benchmarks/bench_neighbours.py [--quick] [--skip-memory]
    .venv/bin/python tests/benchmarks/bench_neighbours.py --approximate 200000 --dim 1280
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from explorer.core.analysis.neighbours import NeighbourIndex


def single(n=100_000, d=512, k=10, queries=100):
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
              f"p95 {np.percentile(times, 95):.1f} ms (target < 50 ms)")


def batch(n=100_000, d=512, k=10, queries=1000):
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(1)
    features = rng.normal(size=(n, d)).astype(np.float16)
    q = rng.choice(n, queries, replace=False)
    index = NeighbourIndex(features, metric="cosine")
    t = time.perf_counter()
    found, _ = index.query_many(q, k)
    many = time.perf_counter() - t
    single = [index.query(int(i), k) for i in q[:20]]
    assert all(list(found[j]) == [nb.index for nb in s] for j, s in enumerate(single))
    line = f"batch of {queries:,} cosine queries over {n:,} x {d}: query_many {many:.2f} s"
    x = features.astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    try:
        import faiss
    except ImportError:
        line += "; faiss flat: not installed (pip install faiss-cpu to compare)"
    else:
        flat = faiss.IndexFlatIP(d)
        flat.add(x)
        t = time.perf_counter()
        _, theirs = flat.search(x[q], k + 1)
        fa = time.perf_counter() - t
        agree = np.mean([len(set(a) & set(b[b != i])) / k for a, b, i in zip(found, theirs, q)])
        line += f"; faiss flat {fa:.2f} s ({many / fa:.2f}x; same neighbours {agree:.4f})"
    nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute").fit(x)
    t = time.perf_counter()
    nn.kneighbors(x[q])
    sk = time.perf_counter() - t
    print(line + f"; scikit-learn brute {sk:.2f} s ({many / sk:.2f}x)")


_MEMORY = """
import sys, time, tracemalloc
import numpy as np
from explorer.core.analysis.neighbours import NeighbourIndex
x = np.load(sys.argv[1], mmap_mode="r")
tracemalloc.start()
t = time.perf_counter()
index = NeighbourIndex(x, metric="cosine")
build = time.perf_counter() - t
held, _ = tracemalloc.get_traced_memory()
t = time.perf_counter(); index.query(5, 10); first = time.perf_counter() - t
times = []
for i in range(1, 8):
    t = time.perf_counter(); index.query(i * 1000, 10); times.append(time.perf_counter() - t)
t = time.perf_counter(); index.query_many(np.arange(200), 10); many = time.perf_counter() - t
_, peak = tracemalloc.get_traced_memory()
print(f"memory, {len(x):,} x {x.shape[1]} float16 memmap ({x.nbytes / 2**20:.0f} MB on disk): "
      f"the index holds {held / 2**20:.1f} MB, "
      f"peak {peak / 2**20:.0f} MB through one query and 200 batched; build {build:.2f} s, "
      f"first query {first * 1000:.0f} ms, then median {np.median(times) * 1000:.0f} ms; 200 batched {many:.2f} s")
"""


def memory(n=200_000, d=1280):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "features.npy")
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, d))
        rng = np.random.default_rng(2)
        for s in range(0, n, 20_000):
            mm[s:s + 20_000] = np.abs(rng.normal(size=(min(20_000, n - s), d))).astype(np.float16)
        mm.flush()
        del mm
        subprocess.run([sys.executable, "-c", _MEMORY, path], check=True)


def approximate(n: int, d: int, k=10, queries=200):
    from explorer.core.analysis.approximate import build_approximate_index, have_faiss
    from explorer.core.progress import run_to_end

    if not have_faiss():
        print("approximate neighbours: faiss is not installed (pip install faiss-cpu)")
        return
    rng = np.random.default_rng(3)
    x = np.empty((n, d), np.float16)
    centres, mix = rng.normal(size=(200, 32)), rng.normal(size=(32, d))
    for s in range(0, n, 50_000):
        m = min(50_000, n - s)
        latent = centres[rng.integers(0, 200, m)] + 0.5 * rng.normal(size=(m, 32))
        x[s:s + m] = np.maximum(latent @ mix + 0.3 * rng.normal(size=(m, d)), 0)
    t = time.perf_counter()
    index = run_to_end(build_approximate_index(x, metric="cosine"))
    build = time.perf_counter() - t
    q = rng.choice(n, queries, replace=False)
    t = time.perf_counter()
    want, _ = NeighbourIndex(x, metric="cosine").query_many(q, k)
    exact = (time.perf_counter() - t) / queries
    print(f"{index.note}, {n:,} x {d}: build {build:.0f} s (exact, batched: {exact * 1000:.1f} ms a query)")
    for nprobe in sorted({index.nprobe, 8, 16, 64}):
        index.nprobe = nprobe
        times, found = [], []
        for i in q:
            t = time.perf_counter()
            found.append([nb.index for nb in index.query(int(i), k)])
            times.append(time.perf_counter() - t)
        recall = np.mean([len(set(f) & set(w)) / k for f, w in zip(found, want)])
        print(f"  nprobe {nprobe}: recall@{k} {recall:.4f}, query median {np.median(times) * 1000:.2f} ms, "
              f"p95 {np.percentile(times, 95) * 1000:.2f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--approximate", type=int, default=0, metavar="N", help="only the approximate index, N rows")
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    if args.approximate:
        return approximate(args.approximate, args.dim)
    scale = 10 if args.quick else 1
    single(n=100_000 // scale)
    batch(n=100_000 // scale)
    if not args.skip_memory:
        memory(n=200_000 // scale)


if __name__ == "__main__":
    main()
