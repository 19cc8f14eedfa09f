"""explorer explain IMAGE... --method M: why the model scored a class, as a map per image."""

from __future__ import annotations

import json
from pathlib import Path

from ..options import device, model_options, output_file, weights, whole

METHOD_HELP = ("gradient | guided-backprop | cam | gradcam | gradcam++ | guided-gradcam | occlusion | "
               "integrated-gradients")


def add_parser(sub) -> None:
    sp = sub.add_parser("explain", help="attribution maps (Grad-CAM, CAM, guided backprop, occlusion, ...) "
                                        "for images")
    sp.add_argument("images", nargs="+", metavar="IMAGE")
    model_options(sp)
    sp.add_argument("--method", default="gradcam", help=METHOD_HELP + " (default: gradcam)")
    sp.add_argument("--target", default="top1",
                    help="top1..top5, a class index, or a class name (default: top1, the prediction)")
    sp.add_argument("--window", type=whole(1, what="a window side in input pixels"), default=None,
                    help="occlusion window (default: input size / 7)")
    sp.add_argument("--stride", type=whole(1, what="a stride in input pixels"), default=None,
                    help="occlusion stride (default: window / 2)")
    sp.add_argument("--baseline", default="zero", help="what hides pixels: zero (normalised), blur or black")
    sp.add_argument("--steps", type=whole(1, 4096, what="a number of steps"), default=32,
                    help="integrated-gradients steps (default 32)")
    sp.add_argument("--sanity", action="store_true",
                    help="cascading randomisation check: the map's rank correlation as top units are randomised")
    sp.add_argument("--faithfulness", action="store_true", help="deletion/insertion curves and their areas")
    sp.add_argument("--device", type=device, default="cpu", help="cpu (default), cuda, cuda:N or mps")
    sp.add_argument("--out", default=None, metavar="PNG",
                    help="the map over the image with a colour scale (several images: -N-<name> is added)")
    sp.add_argument("--save-map", default=None, metavar="MAP.npy",
                    help="the raw map, float32 at the input resolution: (H, W) or (3, H, W)")
    sp.add_argument("--json", action="store_true", help="one JSON line per image")
    sp.set_defaults(func=run)


def _numbered(path: str | None, i: int, image: str, several: bool) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    return p.with_name(f"{p.stem}-{i}-{Path(image).stem}{p.suffix}") if several else p


def run(args) -> int:
    import numpy as np

    from ...core.analysis.attribution import (BASELINES, METHODS, Explainer, Options, explain, faithfulness,
                                              sanity_check)
    from ...core.analysis.attribution.render import figure
    from ...core.data.decode import load_rgb
    from ...core.errors import DecodeError, ExplorerError
    from ...core.model.zoo import load_model
    from ..main import drive

    if args.method not in METHODS:
        raise ExplorerError(f"--method {args.method!r}: choose one of {', '.join(METHODS)}.")
    if args.baseline not in BASELINES:
        raise ExplorerError(f"--baseline {args.baseline!r}: choose one of {', '.join(BASELINES)}.")
    several = len(args.images) > 1
    outs = [(_numbered(args.out, i, im, several), _numbered(args.save_map, i, im, several))
            for i, im in enumerate(args.images)]
    for png, npy in outs:  # checked before the model loads
        if png is not None:
            from .kernels import image_file
            image_file(str(png))
        if npy is not None:
            output_file(npy, "--save-map", example="map.npy")
    if args.device.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            raise ExplorerError(f"--device {args.device}: no CUDA device is available here.")
    loaded = load_model(args.model, weights(args.weights), image_size=args.image_size)
    explainer = Explainer(loaded, device=args.device)
    options = Options(layer=args.layer, target=args.target, window=args.window, stride=args.stride,
                      baseline=args.baseline, steps=args.steps)
    if args.window and args.window > explainer.input_size:
        raise ExplorerError(f"--window {args.window} is larger than the input size {explainer.input_size}.")
    failures = 0
    for (path, (png, npy)) in zip(args.images, outs):
        try:
            image, _ = load_rgb(path)
        except DecodeError as exc:
            print(f"error: {exc.reason}; skipped", file=__import__("sys").stderr)
            failures += 1
            continue
        x = explainer.inputs(image)
        att = drive(explain(explainer, x, args.method, options), f"{args.method} {Path(path).name}", unit="step",
                    quiet=args.json)
        record = {"path": str(path), "method": att.method, "layer": att.layer, "target": att.target,
                  "target_name": att.target_name, "score": att.score, "probability": att.probability,
                  "input_size": att.input_size, **att.settings}
        if args.sanity:
            result = drive(sanity_check(explainer, x, att), "sanity check", unit="unit", quiet=args.json)
            record["sanity_rank_corr"] = [round(r, 4) for r in result.rank_corr]
            record["sanity_units"] = result.units
        if args.faithfulness:
            f = drive(faithfulness(explainer, x, att), "deletion/insertion", unit="img", quiet=args.json)
            record.update(deletion_auc=f.deletion_auc, insertion_auc=f.insertion_auc)
        if npy is not None:
            np.save(npy, att.map.astype(np.float32))
        if png is not None:
            figure(image, att, loaded.preprocess).save(png)
        if args.json:
            print(json.dumps(record, allow_nan=False), flush=True)
        else:
            where = f" at {att.layer}" if att.layer else ""
            print(f"{path}: {att.method}{where} for {att.target_name} (#{att.target}, p={att.probability:.3f}, "
                  f"logit {att.score:.3f})" + (f" -> {png}" if png else ""))
            if args.sanity:
                pairs = ", ".join(f"{u} {r:+.2f}" for u, r in zip(record["sanity_units"], record["sanity_rank_corr"]))
                print(f"  sanity (rank correlation as units are randomised, cumulatively): {pairs}")
            if args.faithfulness:
                print(f"  deletion AUC {record['deletion_auc']:.4f} (lower is better), insertion AUC "
                      f"{record['insertion_auc']:.4f} (higher is better)")
    if failures == len(args.images):
        raise ExplorerError("none of the images could be read (listed above).")
    return 0
