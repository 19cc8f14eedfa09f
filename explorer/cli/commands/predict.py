"""explorer predict RUN: each image's most probable classes, as the model predicted them at embedding time."""

from __future__ import annotations

import json

from ..options import run_folder, whole


def add_parser(sub) -> None:
    sp = sub.add_parser("predict", help="each image's top classes and probabilities (kept when it was embedded)")
    sp.add_argument("run_dir")
    sp.add_argument("--top", type=whole(1, what="a whole number of classes"), default=5,
                    help="classes per image (default 5; more than 5 needs the run's logits)")
    sp.add_argument("--json", action="store_true", help="a JSON list of {index, path, label, status, top}")
    sp.set_defaults(func=run)


def run(args) -> int:
    from ...core.analysis.predictions import load_predictions
    from ...core.errors import ExplorerError
    from ...core.run.store import load_run

    run = load_run(run_folder(args.run_dir))
    preds = load_predictions(run)
    kept = preds.classes.shape[1]
    limit = preds.n_classes if preds.logits is not None else kept
    if args.top > limit:
        raise ExplorerError(f"--top {args.top}: this run keeps {'logits for ' if preds.logits is not None else 'the top '}"
                            f"{limit} classes per image; choose --top {limit} or less.")
    rows = []
    for r in run.rows:
        status = run.status(r.index)[0]
        top = [{"class": p.index, "name": p.name, "probability": round(p.probability, 6)}
               for p in preds.top(r.index, args.top)]
        rows.append({"index": r.index, "path": r.path, "label": r.label, "status": status, "top": top})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        if not row["top"]:
            print(f"#{row['index']:<6} {row['path']}  ({row['status']})")
            continue
        best = ", ".join(f"{t['name']} {t['probability']:.1%}" for t in row["top"])
        label = f" [{row['label']}]" if row["label"] is not None else ""
        print(f"#{row['index']:<6} {row['path']}{label}: {best}")
    return 0
