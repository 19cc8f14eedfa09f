"""Fine-tuning time on CPU (and GPU when there is one): the one pass that computes the head's inputs,
an epoch of the head alone, and an epoch with the last block unfrozen, at 224 px.

    .venv/bin/python tests/benchmarks/bench_finetune.py [--images 96] [--model resnet18]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from explorer.core.data.datasets import open_dataset
from explorer.core.engine.finetune import FinetuneConfig, finetune
from explorer.core.model.zoo import DEFAULT_MODEL, load_model


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=96)
    p.add_argument("--model", default="resnet18")
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        rng = np.random.default_rng(0)
        for c in range(4):
            (root / f"class{c}").mkdir(parents=True)
            for i in range(args.images // 4):
                a = np.clip(rng.normal(0, 60, (256, 320, 3)) + rng.integers(40, 220, 3), 0, 255).astype(np.uint8)
                Image.fromarray(a).save(root / f"class{c}" / f"{i}.jpg", quality=90)
        dataset = open_dataset(root)
        model = load_model(args.model, None if args.model == DEFAULT_MODEL else "random")
        print(f"{args.model}, {len(dataset)} images of 320x256 at {model.preprocess.crop} px, "
              f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
        for device in devices:
            for unfreeze in (0, 1):
                config = FinetuneConfig(epochs=args.epochs, unfreeze=unfreeze, patience=99, device=device)
                t0 = time.perf_counter()
                work = finetune(dataset, model, out=Path(tmp) / "ft.pt", config=config)
                first_epoch_at = None
                while True:
                    try:
                        step = next(work)
                    except StopIteration as stop:
                        result = stop.value
                        break
                    if step.partial is not None and first_epoch_at is None:
                        first_epoch_at = time.perf_counter() - t0 - step.partial.seconds
                total = time.perf_counter() - t0
                epochs = [e.seconds for e in result.epochs]
                print(f"{device:<5} unfreeze={unfreeze}: before the first epoch {first_epoch_at:.2f} s "
                      f"({'head inputs for every image' if unfreeze == 0 else 'set-up'}); epoch median "
                      f"{np.median(epochs):.3f} s ({len(dataset) * 0.8 / np.median(epochs):.0f} img/s); total {total:.1f} s")


if __name__ == "__main__":
    main()
