"""End-to-end embedding throughput vs the model's forward-only throughput.

End to end = listing, JPEG decoding, resize/crop/normalise (DataLoader workers on GPU),
the forward pass to the layer, pooling and writing the run folder.
Forward only = the same extractor on synthetic tensors already on the device, same batch size.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from explorer.core.data.datasets import open_dataset
from explorer.core.engine.embedding import embed_dataset, half_forward, resolve_device
from explorer.core.model.graph import model_graph
from explorer.core.model.zoo import load_model


def make_photos(root: Path, n: int) -> None:
    """n real-photo-like JPEGs (640x480) cut from scikit-image's photos, in 4 classes."""
    from skimage import data

    sources = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.hubble_deep_field()]
    rng = np.random.default_rng(0)
    for i in range(n):
        src = sources[i % len(sources)]
        big = np.asarray(Image.fromarray(src).resize((800, 600)))
        y, x = rng.integers(0, 120), rng.integers(0, 160)
        folder = root / f"class{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(big[y:y + 480, x:x + 640]).save(folder / f"{i:05d}.jpg", quality=90)


def forward_only(model, layer, graph, device, batch_size, batches):
    ext = graph.extractor([layer]).to(device).to(memory_format=torch.channels_last)
    size = model.preprocess.crop
    x = torch.randn(batch_size, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    # the pipeline's own forward: float16 autocast on CUDA (with its overflow check), plain elsewhere
    run = (lambda: half_forward(ext, x)) if device.type == "cuda" else (lambda: ext(x))
    with torch.inference_mode():
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(batches):
            y = run()[layer]
            y.float().flatten(2).mean(2).cpu()  # the same host copy the pipeline makes
        if device.type == "cuda":
            torch.cuda.synchronize()
    return batches * batch_size / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--images", type=int, default=None, help="default: 768 on CPU, 4096 on GPU")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--decode", default=["auto"], nargs="+", choices=("auto", "cpu", "gpu"),
                   help="where JPEGs are decoded; several: one embedding each, same photos")
    args = p.parse_args()
    device = resolve_device(args.device)
    n = args.images or (4096 if device.type == "cuda" else 768)
    model = load_model(args.model, None if args.model == "efficientnet_lite0" else "random")
    graph = model_graph(model)
    layer = graph.default
    print(f"model {model.name}, layer {layer}, device {device}"
          f"{' (' + torch.cuda.get_device_name() + ')' if device.type == 'cuda' else ''}, "
          f"batch {args.batch_size}, {n} images of 640x480 JPEG, torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        make_photos(root, n)
        fwd = forward_only(model, layer, graph, device, args.batch_size, max(3, min(n // args.batch_size, 20)))
        print(f"forward only : {fwd:8.1f} images/s")
        for decode in args.decode:
            t = time.perf_counter()
            dataset = open_dataset(root)
            work = embed_dataset(dataset, model, layer, out=Path(tmp) / f"run-{decode}", device=args.device,
                                 batch_size=args.batch_size, workers=args.workers, graph=graph, decode=decode)
            first = None  # (time, rows) at the first finished batch: steady state is measured from there
            while True:
                try:
                    step = next(work)
                except StopIteration as stop:
                    result = stop.value
                    break
                if first is None and step.done > 0:
                    first = (time.perf_counter(), step.done)
            end = time.perf_counter()
            e2e = n / (end - t)
            steady = (n - first[1]) / (end - first[0])
            decoded = result.run.manifest.get("decode", "cpu")
            print(f"decode {decode} ({decoded}):")
            print(f"  end to end   : {e2e:8.1f} images/s  ({result.computed} images, incl. listing, model set-up, "
                  "writes)")
            print(f"  steady state : {steady:8.1f} images/s  (decode + forward + writes, after the first batch)")
            print(f"ratio        : {e2e / fwd:8.2f} end to end, {steady / fwd:.2f} steady state  (target >= 0.80)")

if __name__ == "__main__":
    main()
