"""Where the time goes when JPEGs are decoded for embedding: each stage alone, in images/s.

    .venv/bin/python tests/benchmarks/bench_gpu_decode.py [--device cuda] [--images 1024]

Stages: a worker's share on the GPU path (read + hash + header: gpu_jpeg.read_jpeg), the CPU path's
decode + preprocess (one core), nvJPEG's batched decode alone, and decode + upright + resize + crop +
normalise (gpu_jpeg.decode). On a CPU device the "GPU" stages run torchvision's CPU decoder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_embedding import make_photos  # noqa: E402

from explorer.core.data.decode import load_rgb  # noqa: E402
from explorer.core.engine import gpu_jpeg  # noqa: E402
from explorer.core.engine.embedding import resolve_device  # noqa: E402
from explorer.core.model.zoo import load_model  # noqa: E402


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:9,.0f} images/s"


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="auto")
    p.add_argument("--images", type=int, default=1024)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()
    device = resolve_device(args.device)
    pre = load_model("efficientnet_lite0").preprocess
    with tempfile.TemporaryDirectory() as tmp:
        make_photos(Path(tmp), args.images)
        paths = sorted(str(p) for p in Path(tmp).rglob("*.jpg"))
        jpegs = []
        seconds = timed(lambda: jpegs.extend(gpu_jpeg.read_jpeg(p)[0] for p in paths), torch.device("cpu"))
        print(f"device {device}, {len(paths)} photos 640x480, batch {args.batch_size}, preprocess {pre.resize}/{pre.crop}")
        print(f"worker, GPU path (read + hash + header)   : {rate(len(paths), seconds)} per core")
        some = paths[:200]
        seconds = timed(lambda: [pre(load_rgb(p, draft_size=pre.resize)[0]) for p in some], torch.device("cpu"))
        print(f"worker, CPU path (Pillow decode + resize) : {rate(len(some), seconds)} per core")
        batches = [jpegs[i:i + args.batch_size] for i in range(0, len(jpegs), args.batch_size)]
        from torchvision.io import ImageReadMode, decode_jpeg

        def decode_only():
            for b in batches:
                decode_jpeg([j.data for j in b], mode=ImageReadMode.RGB, device=device)

        def decode_all():
            for b in batches:
                gpu_jpeg.decode(b, pre, device)

        decode_only()  # warm-up: nvJPEG's handles and buffers
        print(f"decode_jpeg batched on {device.type:4s}           : {rate(len(jpegs), timed(decode_only, device))}")
        decode_all()
        print(f"gpu_jpeg.decode (decode + prepare)        : {rate(len(jpegs), timed(decode_all, device))}")


if __name__ == "__main__":
    main()
