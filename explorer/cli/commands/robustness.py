"""explorer robustness RUN --kind K --values ...: per level, how often the run's predictions survive."""

from __future__ import annotations

import json

from ..options import count, device, run_folder, seed
from .perturb import KIND_HELP


def add_parser(sub) -> None:
    sp = sub.add_parser("robustness", help="per perturbation level: agreement with the clean prediction, accuracy "
                                           "and feature similarity over a run's images")
    sp.add_argument("run_dir", metavar="RUN")
    sp.add_argument("--kind", required=True, help=KIND_HELP)
    sp.add_argument("--values", default=None, metavar="START:STOP:STEP",
                    help="the levels (STOP included; or A,B,C; default: the kind's)")
    sp.add_argument("--sample", type=count, default=None, metavar="N",
                    help="measure a seeded sample of N images (default: all embedded images)")
    sp.add_argument("--seed", type=seed, default=0, help="the sample, the noise and PGD's start (default 0)")
    sp.add_argument("--weights", default=None, help="the weights file, when the run was embedded with one")
    sp.add_argument("--steps", type=count, default=10, help="pgd: gradient steps (default 10)")
    sp.add_argument("--device", type=device, default="cpu", help="cpu (default), cuda, cuda:N or mps")
    sp.add_argument("--json", action="store_true", help="one JSON line per level")
    sp.set_defaults(func=run)


def run(args) -> int:
    from ...core.analysis.perturb import ADVERSARIAL, check_kind, parse_values
    from ...core.analysis.robustness import robustness
    from ...core.run.store import load_run
    from ..main import drive

    kind = check_kind(args.kind)
    values = parse_values(args.values, kind)
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            from ...core.errors import ExplorerError

            raise ExplorerError(f"--device {args.device}: no CUDA device is available here.")
    the_run = load_run(run_folder(args.run_dir))
    table = drive(robustness(the_run, kind, values, weights=args.weights, sample=args.sample, seed=args.seed,
                             device=args.device, steps=args.steps), f"{kind} robustness", quiet=args.json)
    if args.json:
        for level in table.levels:
            record = level.to_dict()
            if record["accuracy"] is None:
                del record["accuracy"]
            print(json.dumps(record, allow_nan=False))
        return 0
    labelled = (f"; accuracy on {table.n_labelled:,} with labels the head knows (clean {table.clean_accuracy:.1%})"
                if table.clean_accuracy is not None else "; no label maps to the head's classes, so no accuracy")
    skipped = f" ({table.skipped} unreadable, left out)" if table.skipped else ""
    print(f"{the_run.path}: {kind} on {table.n_images:,} images{skipped} at {table.layer}{labelled}")
    success = kind in ADVERSARIAL
    print(f"  {'value':>8}  {'agreement':>9}" + ("  success" if success else "") + f"  {'accuracy':>8}  mean cosine")
    for level in table.levels:
        acc = "-" if level.accuracy is None else f"{level.accuracy:.1%}"
        rate = f"  {1 - level.agreement:>7.1%}" if success else ""
        print(f"  {level.value:>8g}  {level.agreement:>9.1%}{rate}  {acc:>8}  {level.mean_cosine:.4f}")
    return 0
