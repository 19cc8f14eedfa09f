"""explorer project RUN: a 2-D map of a run's features, computed and kept in the run folder."""

from __future__ import annotations

from ..main import drive


def add_parser(sub) -> None:
    sp = sub.add_parser("project", help="2-D map of a run's features (PCA or t-SNE)")
    sp.add_argument("run_dir")
    sp.add_argument("--method", choices=("pca", "tsne"), default="pca")
    sp.add_argument("--perplexity", type=float, default=30.0)
    sp.add_argument("--seed", type=int, default=0)
    sp.set_defaults(func=run)


def run(args) -> int:
    from ...core.analysis.projection import project_run
    from ...core.run.store import load_run

    run = load_run(args.run_dir)
    layout = drive(project_run(run, args.method, perplexity=args.perplexity, seed=args.seed),
                   args.method, unit="it")
    n = int((layout[:, 0] == layout[:, 0]).sum())
    print(f"{run.path / f'projection-{args.method}.npy'}: {n:,} points "
          f"(also projection-{args.method}.csv)")
    return 0
