"""explorer export RUN: TensorBoard projector TSVs and/or a CSV of the rows with their map position."""

from __future__ import annotations

import sys

from ..options import output_file, output_folder, run_folder


def add_parser(sub) -> None:
    sp = sub.add_parser("export", help="write a run as TensorBoard projector TSVs and/or a CSV")
    sp.add_argument("run_dir")
    sp.add_argument("--projector", metavar="DIR", help="write tensors.tsv, metadata.tsv, sprite.png (thumbnails) "
                    "and projector_config.pbtxt into DIR")
    sp.add_argument("--no-sprite", action="store_true", help="with --projector: no sprite.png (no image reads)")
    sp.add_argument("--csv", metavar="PATH",
                    help="write index, path, label, x, y, map, run (x, y from the newest map of the current rows; "
                    "map names it, run the model, layer and run folder)")
    sp.set_defaults(func=run)


def describe(record: dict) -> str:
    """'the t-SNE map (perplexity 30, seed 0) of <created>' for a kept projection's record."""
    from ...core.run.export import map_name

    name = map_name(str(record.get("method")))
    settings = [f"perplexity {record['perplexity']:g}"] if record.get("method") == "tsne" and "perplexity" in record \
        else []
    settings.append(f"seed {record.get('seed', 0)}")
    shown = " shown as PCA" if record.get("shown") == "pca" and record.get("method") != "pca" else ""
    when = f" of {record['created']}" if record.get("created") else ""
    return f"the {name} map ({', '.join(settings)}){shown}{when}"


def run(args) -> int:
    from ...core.errors import ExplorerError
    from ...core.run.export import describe_map, projector_tsv, selection_csv
    from ...core.run.store import load_run

    run = load_run(run_folder(args.run_dir))
    if not (args.projector or args.csv):
        raise ExplorerError("give --projector DIR and/or --csv PATH")
    csv_path = output_file(args.csv, "--csv") if args.csv else None  # both checked before anything is written
    projector = output_folder(args.projector, "--projector") if args.projector else None
    if projector is not None:
        tensors, meta = projector_tsv(run, projector, sprite=not args.no_sprite)
        print(f"{tensors} and {meta.name}: load both in the TensorBoard projector"
              + ("" if args.no_sprite else f", or run 'tensorboard --logdir {projector}' (sprite.png and "
                 "projector_config.pbtxt show the images)"))
    if csv_path is not None:
        from ...core.analysis.kept_projections import current_projection

        found = current_projection(run)  # never a map of other rows (a resumed or updated run)
        layout = None if found is None else found[0]
        if found is None:
            print("warning: no projection of the current rows; run 'explorer project' first (x, y left empty)",
                  file=sys.stderr)
        map_name = "" if found is None else describe_map(found[1].get("method"), perplexity=found[1].get(
            "perplexity"), seed=found[1].get("seed", 0))
        selection_csv(run, [r.index for r in run.rows], layout, csv_path, map_name=map_name)
        print(f"{csv_path}: {len(run):,} rows" + ("" if found is None else f", x, y from {describe(found[1])}"))
    return 0
