"""Feature visualisation of the bundled model: time for 256 steps at 224 px (target: < 60 s on a 2-core
CPU), how far the objective rises above what real photos reach, and against an unregularised run.

    .venv/bin/python tests/benchmarks/bench_featurevis.py [--steps 256] [--classes 1,967] [--out DIR]
"""

import argparse
import os
import tempfile
import time

import numpy as np
import skimage.data
import torch
from PIL import Image

from explorer.core.analysis.featurevis import Objective, Settings, visualise
from explorer.core.analysis.featurevis.optimise import _Model, measure_jittered
from explorer.core.model.zoo import load_model
from explorer.core.progress import run_to_end

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "cat", "camera", "coins", "horse", "moon", "page")


def photo_values(loaded, objective):
    model = _Model(loaded, objective, False)
    images = []
    for name in PHOTOS:
        a = getattr(skimage.data, name)()
        images.append(Image.fromarray(a).convert("RGB"))
    return model.measure(images)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--classes", default="1,967")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    os.environ.setdefault("EXPLORER_CACHE_DIR", tempfile.mkdtemp())
    loaded = load_model("efficientnet_lite0")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"efficientnet_lite0 (bundled), torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    for index in (int(c) for c in args.classes.split(",")):
        objective = Objective("class", index)
        photos = photo_values(loaded, objective)
        t0 = time.perf_counter()
        result = run_to_end(visualise(loaded, objective, Settings(steps=args.steps), cache=False))
        seconds = time.perf_counter() - t0
        naive = run_to_end(visualise(loaded, objective, Settings.unregularised(steps=args.steps), cache=False))
        name = loaded.categories[index]
        print(f"{name} (#{index}), {args.steps} steps at 224 px on cpu: {seconds:.1f} s "
              f"({seconds / args.steps * 1000:.0f} ms/step)")
        print(f"  logit on the saved image: start {result.objective_start:.2f}, end {result.objective_end:.2f}; "
              f"best of {len(PHOTOS)} scikit-image photos {max(photos):.2f} "
              f"(ratio {result.objective_end / max(photos):.1f}x)")
        print(f"  after the same 16 random jitters/scales/rotations: regularised "
              f"{measure_jittered(loaded, objective, result.images[0]):.2f}, unregularised "
              f"{measure_jittered(loaded, objective, naive.images[0]):.2f} (unjittered {naive.objective_end:.2f})")
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            result.images[0].save(os.path.join(args.out, f"class{index}.png"))
            naive.images[0].save(os.path.join(args.out, f"class{index}-unregularised.png"))


if __name__ == "__main__":
    main()
