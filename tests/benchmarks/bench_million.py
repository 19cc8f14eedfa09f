"""A million-image run end to end on this machine (issue 16): where the time and the memory go.

    .venv/bin/python tests/benchmarks/bench_million.py [--n 1000000] [--dim 1280] [--tsne] [--scatter]

Features are generated (clustered, float16, written into a real run folder a chunk at a time); the
embedding rate is measured on real images and the million extrapolated. Steps, each with its time and
this process's resident memory after it:
  listing      a folder of 20k tiny files listed, extrapolated to n
  embedding    images/s of the bundled model on 256 real photos on this CPU, extrapolated to n
  write run    the synthetic run folder (features.npy float16), chunk by chunk
  open run     load_run, then touching every feature once
  PCA map      kept_projections.project_run(run, "pca") (a 200k sample past that size)
  t-SNE map    (--tsne) the same with t-SNE: 50k fitted, the rest placed
  exact query  one neighbour query over all n (float16 scan), median of 5
  approximate  the FAISS cell index: build, query median, recall@10 of 50 queries against exact
  map draw     (--scatter) bench_scatter.py at n points (offscreen Qt): load, redraw, hover
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Report:
    def __init__(self):
        self.rows = []

    def step(self, name: str, seconds: float, note: str = ""):
        self.rows.append((name, seconds, rss_mb(), note))
        took = f"{seconds:9.1f} s " if seconds >= 1 else f"{seconds * 1e3:9.1f} ms"
        print(f"{name:12s} {took}  RSS {rss_mb():8,.0f} MB  {note}", flush=True)


def clustered(n: int, dim: int, seed: int = 0, chunk: int = 100_000):
    """n points around 50 centres, float16, in chunks (never the whole float32 matrix)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (50, dim)).astype(np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        yield (centres[rng.integers(0, 50, m)] + rng.normal(0, 0.6, (m, dim)).astype(np.float32)).astype(np.float16)


def make_run(path: Path, n: int, dim: int):
    from explorer.core.run.arrays import plan
    from explorer.core.run.folder import create_run
    from explorer.core.run.store import Row

    layer = {"name": "synthetic", "shape": [dim]}
    manifest = {"dataset": {"root": str(path.parent / "images"), "classes": ["a", "b"]}, "model": "synthetic",
                "weights": "none", "layers": [layer], "arrays": plan([layer], ["features"]),
                "input_size": 8, "preprocess": {"resize": 8, "crop": 8}, "key": "synthetic-million"}
    run = create_run(path, manifest, [Row(i, f"{'ab'[i % 2]}/{i:07d}.png", "ab"[i % 2]) for i in range(n)])
    start = 0
    for block in clustered(n, dim):
        run.write_rows(np.arange(start, start + len(block)), {"features": block})
        start += len(block)
    run.save(complete=True)


def listing_rate(tmp: Path, files: int = 20_000) -> float:
    from explorer.core.data.datasets import open_dataset

    root = tmp / "listing"
    for i in range(files):
        folder = root / f"class{i % 10}"
        if i < 10:
            folder.mkdir(parents=True)
        (folder / f"{i:06d}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    t = time.perf_counter()
    open_dataset(root)
    return files / (time.perf_counter() - t)


def embedding_rate(tmp: Path) -> float:
    from bench_embedding import make_photos

    from explorer.core.data.datasets import open_dataset
    from explorer.core.engine.embedding import embed_dataset
    from explorer.core.model.zoo import load_model
    from explorer.core.progress import run_to_end

    make_photos(tmp / "photos", 256)
    model = load_model("efficientnet_lite0")
    t = time.perf_counter()
    run_to_end(embed_dataset(open_dataset(tmp / "photos"), model, out=tmp / "photo-run", device="cpu"))
    return 256 / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=1280)
    p.add_argument("--tsne", action="store_true", help="also the t-SNE map (long: a 50k fit and n placed)")
    p.add_argument("--scatter", action="store_true", help="also the map drawn at n points (bench_scatter.py)")
    p.add_argument("--skip-embedding", action="store_true")
    args = p.parse_args()
    from explorer.allocator import tune

    print(f"n {args.n:,} x {args.dim}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, allocator {tune()}")
    report = Report()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rate = listing_rate(tmp)
        report.step("listing", args.n / rate, f"{rate:,.0f} files/s on 20k files, extrapolated to n")
        if not args.skip_embedding:
            rate = embedding_rate(tmp)
            report.step("embedding", args.n / rate, f"{rate:,.1f} images/s on this CPU, extrapolated "
                        f"(an H200 measured 2,284 images/s steady: {args.n / 2284 / 60:,.1f} min)")
        t = time.perf_counter()
        make_run(tmp / "run", args.n, args.dim)
        size = sum(f.stat().st_size for f in (tmp / "run").iterdir()) / 2**30
        report.step("write run", time.perf_counter() - t, f"{size:.2f} GiB on disk")

        from explorer.core.analysis.kept_projections import project_run
        from explorer.core.progress import run_to_end
        from explorer.core.run.store import load_run

        t = time.perf_counter()
        run = load_run(tmp / "run")
        feats = run.features
        total = float(np.asarray(feats[:: max(1, args.n // 1000)], np.float32).sum())  # a sample
        report.step("open run", time.perf_counter() - t, f"memory-mapped {feats.dtype} {feats.shape}; {total:.0f}")
        t = time.perf_counter()
        xy = run_to_end(project_run(run, "pca"))
        report.step("PCA map", time.perf_counter() - t, f"{np.isfinite(xy).all(1).sum():,} points placed")
        if args.tsne:
            t = time.perf_counter()
            xy = run_to_end(project_run(run, "tsne"))
            report.step("t-SNE map", time.perf_counter() - t, f"{np.isfinite(xy).all(1).sum():,} points placed")

        from explorer.core.analysis.neighbours import NeighbourIndex

        index = NeighbourIndex(feats)
        rng = np.random.default_rng(1)
        queries = rng.integers(0, args.n, 50)
        times = []
        for q in queries[:5]:
            t = time.perf_counter()
            index.query(int(q), 10)
            times.append(time.perf_counter() - t)
        report.step("exact query", statistics.median(times), "median of 5 single queries, k=10")

        from explorer.core.analysis.approximate import build_approximate_index, have_faiss

        if have_faiss():
            t = time.perf_counter()
            approx = run_to_end(build_approximate_index(feats))
            report.step("approx build", time.perf_counter() - t, "FAISS cells")
            hits, times = 0, []
            t = time.perf_counter()
            truth, _ = index.query_many(queries, 10)  # exact, batched: one pass over the features
            exact_batch = time.perf_counter() - t
            for q, want in zip(queries, truth):
                t = time.perf_counter()
                got = {nb.index for nb in approx.query(int(q), 10)}
                times.append(time.perf_counter() - t)
                hits += len(got & set(int(i) for i in want))
            report.step("exact batch", exact_batch, f"{len(queries)} exact queries at once (query_many)")
            report.step("approx query", statistics.median(times),
                        f"median of 50; recall@10 {hits / (10 * len(queries)):.3f} against exact")
        else:
            print("approximate: faiss is not installed (pip install 'cnn-feature-explorer[ann]'); skipped")
    if args.scatter:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, str(Path(__file__).parent / "bench_scatter.py")], capture_output=True,
                             text=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, cwd=ROOT)
        print(out.stdout.strip()[-1500:])
        report.step("map draw", time.perf_counter() - t, "bench_scatter.py (100k and 1M)")
    slowest = max(report.rows, key=lambda r: r[1])
    print(f"dominant step: {slowest[0]} ({slowest[1]:,.0f} s); peak RSS of the steps "
          f"{max(r[2] for r in report.rows):,.0f} MB")


if __name__ == "__main__":
    main()
