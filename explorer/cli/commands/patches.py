"""explorer patches RUN --channel C: the maximally activating patches of one channel."""

from __future__ import annotations

import json
import sys

from ..options import count, index, measure, output_folder, run_folder

SHOWN_MISSING = 10  # warning lines before a summary


def add_parser(sub) -> None:
    sp = sub.add_parser("patches", help="the maximally activating patches of one channel of a run's layer")
    sp.add_argument("run_dir")
    sp.add_argument("--channel", type=index, required=True)
    sp.add_argument("-k", type=count, default=9)
    sp.add_argument("--out", required=True, metavar="DIR")
    sp.add_argument("--measure", type=measure, default="auto",
                    help="rank by the channel's spatial max (strongest unit), its mean over the map, or auto "
                         "(default): the mean where the layer's maxima saturate at a cap such as ReLU6's 6")
    sp.add_argument("--json", action="store_true",
                    help="print [{index, path, activation, box}] best first; an image that cannot be read "
                         "now has box null and 'missing' (why)")
    sp.set_defaults(func=run)


def run(args) -> int:
    import os

    from ...core.analysis.measures import activation_cap, describe, share_at_cap
    from ...core.analysis.patches import MissingPatch, channel_patches, crop_patch
    from ...core.errors import DecodeError, ExplorerError
    from ...core.run.store import load_run

    run = load_run(run_folder(args.run_dir))
    cap = activation_cap(run)
    found = channel_patches(run, args.channel, args.k, args.measure, cap=cap)
    ranking = describe(found.measure, cap, share_at_cap(run, args.channel, cap))
    out = output_folder(args.out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    ranked = []
    for rank, patch in enumerate(found.ranked):
        if not isinstance(patch, MissingPatch):
            try:
                crop_patch(run, patch).save(out / f"channel{args.channel:04d}-rank{rank:02d}-item{patch.index}.png")
            except DecodeError as exc:  # the header was readable, the pixels are not (any more)
                patch = MissingPatch(patch.index, patch.path, patch.label, patch.activation, exc.reason)
        ranked.append(patch)
    missing = [p for p in ranked if isinstance(p, MissingPatch)]
    written = len(ranked) - len(missing)
    moved = run.source.kind == "folder" and not os.path.isdir(run.dataset_root)
    if missing and not written and moved:
        raise ExplorerError(f"none of the {len(missing)} top images of channel {args.channel} can be read: the "
                            f"dataset folder {run.dataset_root} does not exist any more (moved or deleted?).")
    for p in missing[:SHOWN_MISSING]:
        print(f"warning: #{p.index} {p.reason}; its patch is left out", file=sys.stderr)
    if len(missing) > SHOWN_MISSING:
        print(f"warning: ... and {len(missing) - SHOWN_MISSING} more top images that cannot be read",
              file=sys.stderr)
    if missing and not written:
        raise ExplorerError(f"none of the {len(missing)} top images of channel {args.channel} can be read now "
                            "(listed above).")
    if args.json:
        print(json.dumps([p.to_json() for p in ranked], indent=2, allow_nan=False))
        print(f"note: 'activation' is the {found.measure} of channel {args.channel} of {run.layer}: {ranking}",
              file=sys.stderr)
    else:
        print(f"channel {args.channel} of {run.layer}: {written} patches in {out}"
              + (f" ({len(missing)} top images could not be read)" if missing else ""))
        print(f"  {ranking}")
        for p in ranked:
            box = f"box {list(p.box)}" if not isinstance(p, MissingPatch) else "missing"
            print(f"  {p.activation:10.4f}  #{p.index:<6} {p.path}  {box}")
    return 0
