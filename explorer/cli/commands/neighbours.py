"""explorer neighbours RUN INDEX: the nearest items in feature space."""

from __future__ import annotations

import json
import math

from ..options import count, index, run_folder


def add_parser(sub) -> None:
    sp = sub.add_parser("neighbours", aliases=["neighbors"], help="nearest items in feature space")
    sp.add_argument("run_dir")
    sp.add_argument("index", type=index)
    sp.add_argument("-k", type=count, default=10)
    sp.add_argument("--metric", choices=("cosine", "euclidean"), default="cosine")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=run)


def run(args) -> int:
    from ...core.analysis.neighbours import NeighbourIndex
    from ...core.run.store import load_run

    run = load_run(run_folder(args.run_dir))
    index = NeighbourIndex(run.features, metric=args.metric, valid=run.done_mask)
    found = index.query(args.index, args.k)
    rows = [{"index": n.index, "distance": n.distance if math.isfinite(n.distance) else None,
             "path": run.rows[n.index].path,
             "label": run.rows[n.index].label} for n in found]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    me = run.rows[args.index]
    print(f"{args.k} nearest to #{args.index} {me.path} (label {me.label}), {args.metric} distance:")
    for r in rows:
        distance = "   n/a" if r["distance"] is None else f"{r['distance']:.4f}"
        print(f"  #{r['index']:<7} {distance}  {r['label'] or '-':<12} {r['path']}")
    return 0
