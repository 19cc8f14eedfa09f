"""explorer export RUN: TensorBoard projector TSVs and/or a CSV of the rows with their map position."""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    sp = sub.add_parser("export", help="write a run as TensorBoard projector TSVs and/or a CSV")
    sp.add_argument("run_dir")
    sp.add_argument("--projector", metavar="DIR", help="write tensors.tsv and metadata.tsv into DIR")
    sp.add_argument("--csv", metavar="PATH", help="write index, path, label, x, y (latest projection)")
    sp.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from ...core.run.export import projector_tsv, selection_csv
    from ...core.run.store import load_run
    from ..main import EXIT_ERROR

    run = load_run(args.run_dir)
    if not (args.projector or args.csv):
        print("error: give --projector DIR and/or --csv PATH", file=sys.stderr)
        return EXIT_ERROR
    if args.projector:
        tensors, meta = projector_tsv(run, args.projector)
        print(f"{tensors} and {meta.name}: load both in the TensorBoard projector")
    if args.csv:
        layout = None
        from ...core.analysis.projection import projection_path

        for method in ("tsne", "pca"):
            path = projection_path(run, method)
            if path.exists():
                layout = np.load(path)
                break
        selection_csv(run, [r.index for r in run.rows], layout, args.csv)
        print(f"{args.csv}: {len(run):,} rows" + ("" if layout is not None else " (no projection yet: x, y empty)"))
    return 0
