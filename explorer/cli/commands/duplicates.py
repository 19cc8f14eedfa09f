"""explorer duplicates RUN: pairs of images closer than a threshold in feature space."""

from __future__ import annotations

import json
import sys

from ..main import drive
from ..options import run_folder


def threshold(text: str) -> float:
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= 2):
        raise argparse.ArgumentTypeError(f"must be a cosine distance from 0 to 2 (got {text!r})")
    return value


def add_parser(sub) -> None:
    sp = sub.add_parser("duplicates", help="near-duplicate images: pairs closer than a threshold in feature space")
    sp.add_argument("run_dir")
    sp.add_argument("--threshold", type=threshold, default=None,
                    help="largest cosine distance (1 - cos) of a pair (default 0.01)")
    sp.add_argument("--layer", default=None, help="whose features (default: the run's main layer)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=run)


def run(args) -> int:
    from ...core.analysis.duplicates import DEFAULT_THRESHOLD, duplicate_groups, near_duplicates
    from ...core.model.layers import resolve_layer
    from ...core.run.store import load_run

    run = load_run(run_folder(args.run_dir))
    layer = resolve_layer(run.layers, args.layer) if args.layer else run.layer
    t = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    pairs = drive(near_duplicates(run.array("features", layer), t, valid=run.done_mask), "comparing", unit="block",
                  quiet=args.json)
    rows = [{"a": p.a, "b": p.b, "distance": p.distance, "path_a": run.rows[p.a].path,
             "path_b": run.rows[p.b].path, "label_a": run.rows[p.a].label, "label_b": run.rows[p.b].label}
            for p in pairs]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    groups = duplicate_groups(pairs, len(run))
    print(f"{len(pairs):,} {'pair' if len(pairs) == 1 else 'pairs'} of images within cosine distance {t:g} at "
          f"{layer} ({len(groups):,} {'group' if len(groups) == 1 else 'groups'})" + (", nearest first:" if pairs else "."))
    for r in rows:
        mark = "" if r["label_a"] == r["label_b"] else "   (labels differ)"
        print(f"  {r['distance']:.5f}  #{r['a']:<6} {r['path_a']}  ~  #{r['b']:<6} {r['path_b']}{mark}")
    if not rows:
        print("  none; a larger --threshold finds looser matches", file=sys.stderr)
    return 0
