"""explorer accuracy RUN: top-1/top-5 accuracy of the stored predictions against the folder labels."""

from __future__ import annotations

import json

from ..options import run_folder, whole


def add_parser(sub) -> None:
    sp = sub.add_parser("accuracy", help="top-1/top-5 accuracy of the model's predictions against the folder labels")
    sp.add_argument("run_dir")
    sp.add_argument("--mapping", metavar="CSV", default=None,
                    help="rows label,class: which class index (or indices joined by ';', a WordNet id or a class "
                         "name) each folder label means; overrides the automatic match by WordNet id, name or synonym")
    sp.add_argument("--confused", type=whole(0), default=10,
                    help="how many of the most confused (label, predicted class) pairs to list (default 10)")
    sp.add_argument("--json", action="store_true", help="{top1, top5, n, left_out, per_class, mapping, confused}")
    sp.set_defaults(func=run)


def run(args) -> int:
    from ...core.analysis.accuracy import run_accuracy
    from ...core.analysis.predictions import load_predictions
    from ...core.run.store import load_run

    run = load_run(run_folder(args.run_dir))
    result = run_accuracy(run, args.mapping, confused=args.confused)
    name = load_predictions(run).name
    if args.json:
        print(json.dumps(result.to_dict(name), indent=2))
        return 0
    print(f"top-1 {result.top1:.1%}, top-{result.k} {result.top5:.1%} on {result.n:,} images"
          + (f" ({result.left_out:,} left out: no label, an unmapped label, or not embedded)" if result.left_out else ""))
    print("per label:")
    for label, m in result.mapping.items():
        if not m.classes:
            print(f"  {label:<24} not mapped: {m.note}")
            continue
        c = result.per_class.get(label, {"n": 0, "top1": 0.0, "top5": 0.0})
        names = "; ".join(name(i) for i in m.classes[:3]) + ("; ..." if len(m.classes) > 3 else "")
        print(f"  {label:<24} -> {names} ({m.how}): top-1 {c['top1']:.1%}, top-{result.k} {c['top5']:.1%} of {c['n']}")
    if result.confused:
        print("most confused (label -> predicted, images):")
        for pair in result.confused:
            print(f"  {pair['label']} -> {pair['name']} ({pair['class']}): {pair['count']}")
    return 0
