"""explorer patches RUN --channel C: the maximally activating patches of one channel."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    sp = sub.add_parser("patches", help="the maximally activating patches of one channel of a run's layer")
    sp.add_argument("run_dir")
    sp.add_argument("--channel", type=int, required=True)
    sp.add_argument("-k", type=int, default=9)
    sp.add_argument("--out", required=True, metavar="DIR")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ...core.analysis.patches import crop_patch, top_patches
    from ...core.run.store import load_run

    run = load_run(args.run_dir)
    patches = top_patches(run, args.channel, args.k)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for rank, patch in enumerate(patches):
        crop_patch(run, patch).save(out / f"channel{args.channel:04d}-rank{rank:02d}-item{patch.index}.png")
    if args.json:
        print(json.dumps([p.to_json() for p in patches], indent=2))
    else:
        print(f"channel {args.channel} of {run.layer}: {len(patches)} patches in {out}")
        for p in patches:
            print(f"  {p.activation:10.4f}  #{p.index:<6} {p.path}  box {list(p.box)}")
    return 0
