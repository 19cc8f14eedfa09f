"""explorer visualise MODEL --class C | --layer L --channel C [--unit]: what a neuron wants, as an image."""

from __future__ import annotations

import json

from ..options import device, image_size, weights, whole


def add_parser(sub) -> None:
    sp = sub.add_parser("visualise", help="feature visualisation: an image optimised to excite a class, a channel "
                                          "or one unit (regularised as in Olah et al. 2017)")
    sp.add_argument("model")
    sp.add_argument("--weights", default=None, help="PATH, 'random', or omit for pretrained")
    sp.add_argument("--image-size", type=image_size, default=None, help="the model's input size")
    sp.add_argument("--layer", default=None, help="the layer of --channel (block names select their output)")
    target = sp.add_mutually_exclusive_group(required=True)
    target.add_argument("--channel", type=whole(0, what="a channel index"), default=None)
    target.add_argument("--class", dest="klass", default=None, metavar="INDEX|NAME",
                        help="a class of the model's head, by index or name")
    sp.add_argument("--unit", action="store_true", help="the channel's centre unit instead of its spatial mean")
    sp.add_argument("--steps", type=whole(1, 100_000, what="a number of steps"), default=256)
    sp.add_argument("--size", type=whole(16, 2048, what="a side in pixels"), default=None,
                    help="the optimised image's side (default: the model's input size)")
    sp.add_argument("--lr", type=float, default=0.05)
    sp.add_argument("--seed", type=whole(0, 2**32 - 1), default=0)
    sp.add_argument("--images", type=whole(1, 16, what="a number of images"), default=1,
                    help="several images of one objective, pushed apart by --diversity")
    sp.add_argument("--diversity", type=float, default=None, help="weight of the diversity term (default 10 when "
                                                                   "--images > 1)")
    sp.add_argument("--no-regularisation", action="store_true",
                    help="pixels, no colour decorrelation, no transforms, no penalties (to compare)")
    sp.add_argument("--device", type=device, default="cpu", help="cpu (default), cuda, cuda:N or mps")
    sp.add_argument("--out", required=True, metavar="PNG", help="the image (several: -N is added)")
    sp.add_argument("--json", action="store_true", help="print the result as JSON")
    sp.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ...core.analysis.attribution.targets import resolve_target
    from ...core.analysis.featurevis import Objective, Settings, visualise
    from ...core.errors import ExplorerError
    from ...core.model.graph import model_graph
    from ...core.model.zoo import load_model
    from ..main import drive
    from .kernels import image_file

    out = image_file(args.out)
    if args.unit and args.channel is None:
        raise ExplorerError("--unit goes with --channel (a class has no unit).")
    loaded = load_model(args.model, weights(args.weights), image_size=args.image_size)
    if args.channel is not None:
        if not args.layer:
            raise ExplorerError("--channel needs --layer (see 'explorer layers MODEL').")
        layer = model_graph(loaded).resolve(args.layer)
        objective = Objective("unit" if args.unit else "channel", args.channel, layer)
    else:
        n = len(loaded.categories) if loaded.categories else 1000
        import numpy as np

        index = resolve_target(args.klass, np.zeros(n), loaded.categories)
        objective = Objective("class", index)
    base = dict(steps=args.steps, size=args.size, lr=args.lr, seed=args.seed, images=args.images,
                diversity=args.diversity if args.diversity is not None else (10.0 if args.images > 1 else 0.0))
    settings = Settings.unregularised(**base) if args.no_regularisation else Settings(**base)
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ExplorerError(f"--device {args.device}: no CUDA device is available here.")
    result = drive(visualise(loaded, objective, settings, device=args.device), "optimising", unit="step",
                   quiet=args.json)
    paths = [out] if len(result.images) == 1 else [Path(out).with_name(f"{Path(out).stem}-{i}{Path(out).suffix}")
                                                   for i in range(len(result.images))]
    for image, path in zip(result.images, paths):
        image.save(path)
    record = {"layer": objective.layer, "channel": objective.index if objective.kind != "class" else None,
              "class": objective.index if objective.kind == "class" else None,
              "class_name": (loaded.categories[objective.index] if objective.kind == "class" and loaded.categories
                             else None), "unit": objective.kind == "unit", "steps": settings.steps,
              "objective_start": result.objective_start, "objective_end": result.objective_end,
              "values": result.values, "seconds": round(result.seconds, 3), "cached": result.cached,
              "out": [str(p) for p in paths]}
    if args.json:
        print(json.dumps(record, allow_nan=False))
    else:
        print(f"{objective.describe(loaded.categories)}: {result.objective_start:.3f} at the start, "
              f"{result.objective_end:.3f} after {settings.steps} steps (measured on the saved image through "
              f"{loaded.name}'s preprocessing) -> {', '.join(str(p) for p in paths)}"
              + (" (from the cache)" if result.cached else f" in {result.seconds:.1f} s"))
    return 0
