"""t-SNE at 30k points: ours (openTSNE, FFT gradients) vs scikit-learn's Barnes-Hut TSNE.

Both get the same 50-D input, perplexity 30 and PCA initialisation. Quality is
trustworthiness (k=5), estimated exactly per point on a random sample of 2,000
points (the full 30k x 30k rank matrix would need ~14 GB).
"""

import argparse
import os
import time

import numpy as np

from explorer.core.progress import run_to_end
from explorer.core.analysis.projection import tsne_2d


def data(n, d=50, k=20, seed=0):
    """Clusters of different sizes and spreads, some on curved 2-D manifolds, in 50-D."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(k, n, p=rng.dirichlet(np.ones(k)))
    centres = rng.normal(0, 6, (k, d))
    spread = rng.uniform(0.5, 2.0, k)
    x = centres[labels] + rng.normal(size=(n, d)) * spread[labels, None]
    t = rng.uniform(0, 2 * np.pi, n)
    curl = rng.normal(0, 1, (k, 2, d))
    x += np.cos(t)[:, None] * curl[labels, 0] * 3 + np.sin(t)[:, None] * curl[labels, 1] * 3
    return x.astype(np.float32)


def trustworthiness(x, y, k=5, sample=2000, seed=0):
    """sklearn's definition, averaged over `sample` query points (exact ranks for each)."""
    n = len(x)
    rng = np.random.default_rng(seed)
    idx = rng.choice(n, min(sample, n), replace=False)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    xsq = (x64 ** 2).sum(1)
    penalty = 0.0
    for i in idx:
        dx = xsq - 2 * x64 @ x64[i] + xsq[i]
        dx[i] = -np.inf  # itself first
        ranks = np.empty(n, np.int64)
        ranks[np.argsort(dx, kind="stable")] = np.arange(n)  # rank 0 = itself
        dy = ((y64 - y64[i]) ** 2).sum(1)
        dy[i] = -np.inf
        emb_nn = np.argsort(dy, kind="stable")[1:k + 1]
        r = ranks[emb_nn]
        penalty += np.maximum(r - k, 0).sum()
    m = len(idx)
    return 1.0 - penalty * 2.0 / (m * k * (2.0 * n - 3.0 * k - 1.0))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=30_000)
    p.add_argument("--check", action="store_true", help="also check our trustworthiness against sklearn's at 2k")
    args = p.parse_args()
    from sklearn.manifold import TSNE, trustworthiness as sk_trust

    if args.check:
        xs = data(2000, seed=1)
        ys = run_to_end(tsne_2d(xs))
        print(f"trustworthiness check at 2k: ours-estimator {trustworthiness(xs, ys, sample=2000):.5f}, "
              f"sklearn {sk_trust(xs, ys, n_neighbors=5):.5f}")
    x = data(args.n)
    print(f"{args.n:,} points x {x.shape[1]} dims, {os.cpu_count()} cores")
    t = time.perf_counter()
    ours = run_to_end(tsne_2d(x, perplexity=30, seed=0))
    t_ours = time.perf_counter() - t
    print(f"ours (openTSNE)     : {t_ours:7.1f} s", flush=True)
    t = time.perf_counter()
    theirs = TSNE(n_components=2, perplexity=30, init="pca", random_state=0, n_jobs=-1).fit_transform(x)
    t_sk = time.perf_counter() - t
    print(f"scikit-learn TSNE   : {t_sk:7.1f} s", flush=True)
    tw_ours, tw_sk = trustworthiness(x, ours), trustworthiness(x, theirs)
    print(f"speed-up            : {t_sk / t_ours:7.2f}x (target >= 1.5x)")
    print(f"trustworthiness k=5 : ours {tw_ours:.4f}, scikit-learn {tw_sk:.4f}, "
          f"difference {tw_ours - tw_sk:+.4f} (target: within 0.01)")


if __name__ == "__main__":
    main()
