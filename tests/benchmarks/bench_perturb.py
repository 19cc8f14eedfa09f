"""Perturbation sweeps and the robustness table on the demo (issue 13).

Embeds demo:digits with the default model (or reuses the cached run), fits its PCA and t-SNE maps,
then times: a 13-value rotation sweep of one digit with its placement into each map (cold: the
model is cut; warm: median of three), and the robustness table for a sample of the run per kind.

    .venv/bin/python tests/benchmarks/bench_perturb.py [--sample 100] [--kinds rotate,noise,fgsm] [--device cpu]
"""

import argparse
import statistics
import time

import torch

from explorer.core.analysis.invariance import Prober, place_on_map, sweep
from explorer.core.analysis.kept_projections import fit_run, load_projector
from explorer.core.analysis.robustness import robustness
from explorer.core.data.datasets import open_dataset
from explorer.core.engine.embedding import embed_dataset
from explorer.core.model.zoo import DEFAULT_MODEL, load_model
from explorer.core.progress import run_to_end


def timed(work):
    t = time.perf_counter()
    result = run_to_end(work) if hasattr(work, "send") else work()
    return result, time.perf_counter() - t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sample", type=int, default=100)
    p.add_argument("--kinds", default="rotate,noise,fgsm")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, device {args.device}")
    loaded = load_model(DEFAULT_MODEL)
    result, seconds = timed(embed_dataset(open_dataset("demo:digits"), loaded, device=args.device))
    run = result.run
    print(f"demo:digits embedded or reused: {len(run):,} images at {run.layer} in {seconds:.1f} s")
    maps = {}
    for method in ("pca", "tsne"):
        projection = load_projector(run, method)  # kept from an earlier run of this script or the app
        if projection is None:
            (_, projection), seconds = timed(fit_run(run, method))
            print(f"{method} map fitted in {seconds:.1f} s")
        maps[method] = projection
    image = run.source.load(0, run.rows[0].path)
    prober, cut = timed(lambda: Prober(loaded, run.layer, device=args.device))
    print(f"model cut at {run.layer}: {cut:.2f} s")
    x = torch.rand(32, 3, loaded.preprocess.crop, loaded.preprocess.crop)
    prober.embed(x[:4])
    _, seconds = timed(lambda: prober.embed(x))
    print(f"forward only, batch 32: {32 / seconds:.1f} img/s (the yardstick: a sweep of n values costs n + 1 images)")
    times = []
    for _ in range(3):
        s, seconds = timed(sweep(loaded, image, "rotate", "-90:90:15", prober=prober))
        times.append(seconds)
    print(f"13-value rotation sweep (variants + embedding): median {statistics.median(times):.2f} s "
          f"(first with the cut: {times[0] + cut:.2f} s)")
    for method, projection in maps.items():
        placed = [timed(lambda: place_on_map(projection, s))[1] for _ in range(3)]
        print(f"  placing the 14 points into the {method} map: median {statistics.median(placed):.3f} s")
    print(f"  top-1 per value: {[v.top1 for v in s.variants]}")
    print(f"  cosine per value: {[round(v.cosine_to_original, 3) for v in s.variants]}")
    for kind in args.kinds.split(","):
        values = {"rotate": "-90:90:30", "noise": "0:0.4:0.1", "fgsm": "0:4:1", "pgd": "0:4:1"}.get(kind)
        table, seconds = timed(robustness(run, kind, values, loaded=loaded, sample=args.sample, device=args.device))
        per = seconds / table.n_images
        print(f"robustness {kind} on {table.n_images} images x {len(table.levels)} levels: {seconds:.1f} s "
              f"({per * 1000:.0f} ms per image)")
        for level in table.levels:
            print(f"  {level.value:>6g}  agreement {level.agreement:6.1%}  mean cosine {level.mean_cosine:.4f}")


if __name__ == "__main__":
    main()
