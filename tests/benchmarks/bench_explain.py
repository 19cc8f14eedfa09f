"""Attribution maps per method and model at 224 px (target: Grad-CAM on one image within 1 s for
ResNet-50 on a 2-core CPU). Prints cold (first map: the gradient model is cut) and warm (median of
three) times; on a machine with CUDA, the same on the GPU.

    .venv/bin/python tests/benchmarks/bench_explain.py [--models resnet18,resnet50,efficientnet_lite0]
"""

import argparse
import statistics
import time

import skimage.data
import torch
from PIL import Image

from explorer.core.analysis.attribution import METHODS, Explainer, Options, explain
from explorer.core.model.zoo import DEFAULT_MODEL, load_model
from explorer.core.progress import run_to_end


def timed(explainer, x, method):
    t = time.perf_counter()
    run_to_end(explain(explainer, x, method, Options()))
    if explainer.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", default=f"resnet18,resnet50,{DEFAULT_MODEL}")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--warm", type=int, default=3)
    args = p.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    image = Image.fromarray(skimage.data.chelsea())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; devices: {', '.join(devices)}")
    print(f"{'model':<20}{'device':<7}{'method':<22}{'cold s':>8}{'warm s':>8}")
    for name in args.models.split(","):
        loaded = load_model(name, None if name == DEFAULT_MODEL else "random")  # same cost as trained weights
        for device in devices:
            explainer = Explainer(loaded, device=device)
            x = explainer.inputs(image)
            for method in args.methods.split(","):
                if method == "cam" and name == "alexnet":
                    continue
                cold = timed(explainer, x, method)
                runs = 1 if method in ("occlusion", "integrated-gradients") and device == "cpu" else args.warm
                warm = statistics.median(timed(explainer, x, method) for _ in range(runs))
                print(f"{name:<20}{device:<7}{method:<22}{cold:8.2f}{warm:8.2f}", flush=True)


if __name__ == "__main__":
    main()
