"""explorer demo: the whole pipeline on the bundled digits, in the terminal."""

from __future__ import annotations

from ..main import drive
from ..options import embed_options
from .embed import embed, summary_line


def add_parser(sub) -> None:
    sp = sub.add_parser("demo", help="run the whole pipeline on the bundled digits in the terminal")
    embed_options(sp)
    sp.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from ...core.analysis.neighbours import NeighbourIndex
    from ...core.pipeline import project_layout

    args.out = None
    run = embed("demo:digits", args).run
    print(f"features: {run.features.shape[0]:,} x {run.features.shape[1]} ({run.model}, "
          f"layer {run.layer}) in {run.path}")
    drive(project_layout(run, "tsne", seed=0), "PCA, then t-SNE", unit="it")
    index = NeighbourIndex(run.features, metric="cosine", valid=run.done_mask)
    labels = np.array([r.label for r in run.rows])
    k = 10
    agree = np.mean([np.mean([labels[n.index] == labels[i] for n in index.query(i, k)])
                     for i in np.flatnonzero(run.done_mask)])
    print(f"{summary_line(run)}; PCA and t-SNE maps saved.")
    print(f"Nearest-neighbour label agreement (k={k}, cosine): {agree:.1%} "
          f"(chance {1 / len(set(labels)):.0%}).")
    return 0
