"""explorer perturb IMAGE --kind K --values START:STOP:STEP: how the prediction and the features move."""

from __future__ import annotations

import json
import sys

from ..options import device, model_options, output_folder, run_folder, seed, weights, whole

KIND_HELP = ("translate | translate-y | rotate | scale | brightness | contrast | gamma | blur | noise | jpeg | "
             "occlude | fgsm | pgd")


def position(text: str):
    import argparse

    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        x = y = -1.0
    if not (0 <= x <= 1 and 0 <= y <= 1):
        raise argparse.ArgumentTypeError(f"must be X,Y as fractions of the width and height, 0 to 1 (got {text!r})")
    return x, y


def add_parser(sub) -> None:
    sp = sub.add_parser("perturb", help="sweep one image through a perturbation (rotation, noise, JPEG, FGSM, ...): "
                                        "prediction and feature similarity per value")
    sp.add_argument("image", metavar="IMAGE")
    model_options(sp)
    sp.add_argument("--kind", required=True, help=KIND_HELP)
    sp.add_argument("--values", default=None, metavar="START:STOP:STEP",
                    help="the values to try (STOP included; or A,B,C; default: the kind's, e.g. rotate -90:90:15)")
    sp.add_argument("--target", default=None,
                    help="fgsm/pgd: push towards this class (index or name); default: away from the prediction")
    sp.add_argument("--also-layers", default=None, metavar="L1,L2",
                    help="report the cosine to the original at these layers too (cosine_by_layer), one pass for all")
    sp.add_argument("--seed", type=seed, default=0, help="noise pattern and PGD start (default 0)")
    sp.add_argument("--at", type=position, default=(0.5, 0.5), metavar="X,Y",
                    help="occlude: the square's centre as fractions of the input (default 0.5,0.5)")
    sp.add_argument("--steps", type=whole(1, 1000, what="a number of steps"), default=10,
                    help="pgd: gradient steps (default 10)")
    sp.add_argument("--run", default=None, metavar="RUN",
                    help="place the variants into this run's map (its model, weights, input size and layer)")
    sp.add_argument("--device", type=device, default="cpu", help="cpu (default), cuda, cuda:N or mps")
    sp.add_argument("--out", default=None, metavar="DIR", help="write the input and each variant as PNG")
    sp.add_argument("--json", action="store_true", help="one JSON line per value")
    sp.set_defaults(func=run)


def run(args) -> int:
    from ...core.analysis.invariance import place_on_map, run_projector, sweep
    from ...core.analysis.perturb import check_kind, parse_values
    from ...core.data.decode import load_rgb
    from ...core.errors import DecodeError, ExplorerError
    from ...core.model.zoo import load_model
    from ..main import drive

    kind = check_kind(args.kind)
    values = parse_values(args.values, kind)  # checked before anything loads
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            from ...core.errors import ExplorerError

            raise ExplorerError(f"--device {args.device}: no CUDA device is available here.")
    out = output_folder(args.out, "--out") if args.out else None
    try:
        image, _ = load_rgb(args.image)
    except DecodeError as exc:
        raise ExplorerError(f"{args.image}: {exc.reason}") from None
    projector, layer = None, args.layer
    if args.run:
        from ...core.analysis.robustness import model_for_run
        from ...core.run.store import load_run

        the_run = load_run(run_folder(args.run))
        projector = run_projector(the_run)
        loaded = model_for_run(the_run, weights(args.weights))
        if layer and layer != the_run.layer:
            raise ExplorerError(f"--layer {layer}: the map of {args.run} is at {the_run.layer}; leave --layer out.")
        layer = the_run.layer
    else:
        loaded = load_model(args.model, weights(args.weights), image_size=args.image_size)
    also = tuple(a.strip() for a in (args.also_layers or "").split(",") if a.strip())
    result = drive(sweep(loaded, image, kind, values, layer=layer, target=args.target, seed=args.seed, at=args.at,
                         steps=args.steps, device=args.device, also=also), f"{kind} sweep", unit="step",
                   quiet=args.json)
    path = place_on_map(projector, result) if projector is not None else None
    files = _write(out, result) if out is not None else [None] * len(values)
    records = []
    for i, (variant, file) in enumerate(zip(result.variants, files)):
        record = variant.to_dict()
        if path is not None:
            record.update(map_x=float(path[i + 1, 0]), map_y=float(path[i + 1, 1]))
        if file is not None:
            record["file"] = file
        records.append(record)
    if args.json:
        for record in records:
            print(json.dumps(record, allow_nan=False))
        return 0
    o = result.original
    towards = f", towards {result.target_name} (#{result.target})" if result.target is not None else ""
    print(f"{args.image}: {kind} at {result.layer}{towards}; the original is {o.top1_name} (#{o.top1}, "
          f"p={o.top1_probability:.3f})" + (f", at {path[0, 0]:.3g}, {path[0, 1]:.3g} in the map" if path is not None
                                             else ""))
    print(f"  {'value':>8}  {'top-1':<28} {'p':>6} {'p(orig)':>8} {'cosine':>7}" + ("  map x, y" if path is not None
                                                                                  else ""))
    for r in records:
        where = f"  {r['map_x']:.3g}, {r['map_y']:.3g}" if path is not None else ""
        name = f"{r['top1_name'][:20]} (#{r['top1']})"
        others = "".join(f"  {k}: {c:.4f}" for k, c in r.get("cosine_by_layer", {}).items() if k != result.layer)
        print(f"  {r['value']:>8g}  {name:<28} {r['top1_probability']:>6.3f} {r['original_class_probability']:>8.3f} "
              f"{r['cosine_to_original']:>7.4f}{where}{others}")
    if out is not None:
        print(f"images in {out}", file=sys.stderr)
    return 0


def _write(out, result) -> list[str]:
    """original.png, <kind>-<n>-<value>.png per variant; adversarial: the perturbation, amplified to the full
    range (grey is 0), as <kind>-<n>-<value>-perturbation.png."""
    import numpy as np
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    result.original_image.save(out / "original.png")
    files = []
    for i, (variant, image) in enumerate(zip(result.variants, result.images)):
        name = f"{result.kind}-{i:02d}-{variant.value:g}.png"
        image.save(out / name)
        files.append(str(out / name))
        if result.perturbations is not None:
            p = result.perturbations[i]
            scale = np.abs(p).max()
            amplified = 0.5 + (p / (2 * scale) if scale > 0 else p)
            Image.fromarray((amplified * 255).round().clip(0, 255).astype(np.uint8)).save(
                out / f"{result.kind}-{i:02d}-{variant.value:g}-perturbation.png")
    return files
