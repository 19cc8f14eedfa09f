"""Probe time per layer and classifier (5-fold CV), and near duplicates at 100k images.

    .venv/bin/python tests/benchmarks/bench_probe.py                  # synthetic features, ResNet-18 widths
    .venv/bin/python tests/benchmarks/bench_probe.py --dataset demo:digits --model resnet18 --sample 600
    .venv/bin/python tests/benchmarks/bench_probe.py --duplicates 100000

Synthetic features are class blobs after a ReLU (non-negative, as pooled CNN features are), one
layer per width of ResNet-18's blocks plus EfficientNet-Lite0's 1280; the figures are the time of
`probe_features` (scaling, fitting and predicting every fold) on this machine's CPU.
"""

import argparse
import tempfile
import time

import numpy as np

from explorer.core.analysis.duplicates import near_duplicates
from explorer.core.analysis.probe import CLASSIFIERS, probe_features
from explorer.core.progress import run_to_end


def synthetic(n: int, d: int, classes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    centres = rng.normal(0, 0.35, (classes, d))
    x = np.maximum(centres[y] + rng.normal(0, 1, (n, d)), 0).astype(np.float16)
    return x, [f"c{v}" for v in y]


def bench_synthetic(n: int, classes: int, folds: int) -> None:
    print(f"{n:,} images, {classes} classes, {folds}-fold CV, seconds per probe (accuracy):")
    print(f"  {'layer (width)':<22}" + "".join(f"{c:>20}" for c in CLASSIFIERS))
    for name, d in (("layer1", 64), ("layer2", 128), ("layer3", 256), ("layer4", 512), ("bn2 (lite0)", 1280)):
        cells = []
        x, labels = synthetic(n, d, classes)
        for c in CLASSIFIERS:
            t = time.perf_counter()
            r = run_to_end(probe_features(x, labels, c, folds=folds))
            cells.append(f"{time.perf_counter() - t:8.2f} s ({r.accuracy:.3f})")
        print(f"  {name + f' ({d})':<22}" + "".join(f"{cell:>20}" for cell in cells))


def bench_dataset(spec: str, model: str, sample: int | None, folds: int) -> None:
    from explorer.core.analysis.layer_probe import probe_dataset

    t = time.perf_counter()
    done = run_to_end(probe_dataset(spec, model, weights="random", blocks=True, classifiers=CLASSIFIERS,
                                    folds=folds, sample=sample, image_size=64))
    total = time.perf_counter() - t
    probing = sum(r.seconds for r in done.results)
    print(f"{spec} with {model} (random weights, 64 px), {len(done.run):,} images, blocks {', '.join(done.blocks)}:"
          f" {total:.1f} s in all, {probing:.1f} s probing")
    for r in done.results:
        print(f"  {r.layer:<24}{r.classifier:<8}{r.accuracy:.3f} +- {r.std:.3f}  {r.seconds:6.2f} s")


def bench_duplicates(n: int, d: int = 512) -> None:
    rng = np.random.default_rng(1)
    x = np.maximum(rng.normal(0, 1, (n, d)), 0).astype(np.float16)
    copies = rng.choice(n, 50, replace=False)
    x[copies[25:]] = x[copies[:25]] + rng.normal(0, 0.01, (25, d)).astype(np.float16)
    t = time.perf_counter()
    pairs = run_to_end(near_duplicates(x, 0.01))
    print(f"near duplicates, {n:,} x {d}: {time.perf_counter() - t:.1f} s, {len(pairs)} pairs (25 planted)")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--dataset", default=None)
    p.add_argument("--model", default="resnet18")
    p.add_argument("--sample", type=int, default=None)
    p.add_argument("--duplicates", type=int, default=None, help="rows for the near-duplicate scan")
    a = p.parse_args()
    if a.dataset:
        with tempfile.TemporaryDirectory() as cache:
            import os

            os.environ.setdefault("EXPLORER_CACHE_DIR", cache)
            bench_dataset(a.dataset, a.model, a.sample, a.folds)
    elif a.duplicates:
        bench_duplicates(a.duplicates)
    else:
        bench_synthetic(a.images, a.classes, a.folds)


if __name__ == "__main__":
    main()
