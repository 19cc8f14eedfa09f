"""Maps at scale (issue 16): PCA, t-SNE (sampled past 100k) and UMAP at 10k, 100k and 1M points.

Synthetic clustered features as a run stores them: float16, 1280-D (EfficientNet's width), 50 clusters
of different sizes and spreads. Each (size, method) runs in a fresh process, so its peak memory
(ru_maxrss) is its own: the figure printed is the peak above the features already in memory.
Quality, on a random 3,000-point subset: trustworthiness (scikit-learn, k=10) and how often a point's
5 nearest map neighbours (among 20,000) share its cluster.

    .venv/bin/python tests/benchmarks/bench_projection_scale.py                       # 10k and 100k
    .venv/bin/python tests/benchmarks/bench_projection_scale.py --sizes 1000000 --methods tsne
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def features(n: int, d: int = 1280, k: int = 50, seed: int = 0, chunk: int = 50_000):
    """(n, d) float16 clustered features and (n,) cluster labels, made a chunk at a time."""
    rng = np.random.default_rng(seed)
    sizes = rng.dirichlet(np.ones(k) * 2)
    centres = rng.normal(0, 1, (k, d)).astype(np.float32) * 0.6
    spread = rng.uniform(0.5, 1.5, k).astype(np.float32)
    labels = rng.choice(k, n, p=sizes)
    x = np.empty((n, d), np.float16)
    for i in range(0, n, chunk):
        lab = labels[i:i + chunk]
        noise = rng.standard_normal((len(lab), d), dtype=np.float32) * (spread[lab, None] * 0.3)
        x[i:i + chunk] = centres[lab] + noise
    return x, labels


def quality(x, labels, y, seed=0):
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(seed)
    s = rng.choice(len(x), min(3000, len(x)), replace=False)
    trust = trustworthiness(np.asarray(x[s], np.float32), y[s], n_neighbors=10)
    pool = rng.choice(len(x), min(20_000, len(x)), replace=False)
    fit, test = pool[: len(pool) // 2], pool[len(pool) // 2:]
    knn = KNeighborsClassifier(5).fit(y[fit], labels[fit]).score(y[test], labels[test])
    return trust, knn


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def child(n: int, method: str) -> dict:
    from explorer.core.analysis.projection import make_projection
    from explorer.core.progress import run_to_end

    t = time.perf_counter()
    x, labels = features(n)
    made = time.perf_counter() - t
    before = peak_mb()
    projection = make_projection(method)
    t = time.perf_counter()
    run_to_end(projection.fit_steps(x))
    took = time.perf_counter() - t
    peak = peak_mb()
    trust, knn = quality(x, labels, projection.embedding_)
    return {"n": n, "method": method, "seconds": took, "data_s": made, "features_mb": x.nbytes / 2**20,
            "peak_mb": peak, "above_features_mb": peak - before, "trust": trust, "knn": knn,
            "note": projection.note_ or ""}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--methods", nargs="+", default=["pca", "tsne", "umap"])
    p.add_argument("--timeout", type=float, default=1800, help="seconds per (size, method)")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1])))
        return
    print(f"{os.cpu_count()} cores; load {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} at start", flush=True)
    for n in args.sizes:
        for method in args.methods:
            load = os.getloadavg()[0]
            try:
                out = subprocess.run([sys.executable, __file__, "--child", str(n), method], capture_output=True,
                                     text=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                print(f"{n:>9,} {method:5} over {args.timeout:.0f} s (stopped)", flush=True)
                continue
            if out.returncode:
                print(f"{n:>9,} {method:5} failed: {out.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{n:>9,} {method:5} {r['seconds']:8.1f} s  peak {r['peak_mb']:7.0f} MB "
                  f"({r['above_features_mb']:+6.0f} MB above the {r['features_mb']:.0f} MB of features)  "
                  f"trustworthiness {r['trust']:.3f}  5-NN cluster {r['knn']:.3f}  load {load:.1f}->"
                  f"{os.getloadavg()[0]:.1f}  {r['note']}", flush=True)


if __name__ == "__main__":
    main()
