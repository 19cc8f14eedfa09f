"""explorer project RUN: a 2-D map of a run's features, computed and kept in the run folder."""

from __future__ import annotations

import sys

from ..main import drive
from ..options import perplexity, run_folder, seed, threads_option


def add_parser(sub) -> None:
    sp = sub.add_parser("project", help="2-D map of a run's features (PCA, t-SNE or UMAP)")
    sp.add_argument("run_dir")
    sp.add_argument("--method", choices=("pca", "tsne", "umap"), default="pca",
                    help="umap needs umap-learn: pip install 'cnn-feature-explorer[umap]'")
    sp.add_argument("--perplexity", type=perplexity, default=30.0, help="t-SNE perplexity, a positive number")
    sp.add_argument("--seed", type=seed, default=0, help="random seed, 0 to 2**32 - 1")
    threads_option(sp)
    sp.set_defaults(func=run)


def run(args) -> int:
    from ...core.analysis.kept_projections import fit_run
    from ...core.analysis.umap_projection import UMAP_MISSING, umap_available
    from ...core.errors import ExplorerError
    from ...core.run.store import load_run

    if args.method == "umap" and not umap_available():
        raise ExplorerError(UMAP_MISSING)
    run = load_run(run_folder(args.run_dir, writable=True))
    layout, projection = drive(fit_run(run, args.method, perplexity=args.perplexity, seed=args.seed),
                               args.method, unit="it")
    if projection.note_:
        print(f"note: {projection.note_}", file=sys.stderr)
    n = int((layout[:, 0] == layout[:, 0]).sum())
    print(f"{run.path / f'projection-{args.method}.npy'}: {n:,} points "
          f"(also projection-{args.method}.csv)")
    return 0
