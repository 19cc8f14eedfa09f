"""explorer label-issues RUN: images whose label a cross-validated probe confidently disagrees with."""

from __future__ import annotations

import json
import sys

from ..main import drive
from ..options import count, run_folder, seed
from .probe import classifiers, folds


def confidence(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability from 0 to 1 (got {text!r})")
    return value


def add_parser(sub) -> None:
    sp = sub.add_parser("label-issues", help="possible label errors: images a probe on the features confidently "
                                             "assigns to another class, most suspicious first")
    sp.add_argument("run_dir")
    sp.add_argument("--layer", default=None, help="the layer whose features are probed (default: the run's main "
                                                  "layer)")
    sp.add_argument("--classifier", type=classifiers, default=("logreg",), help="knn, logreg or svm (default: logreg)")
    sp.add_argument("--folds", type=folds, default=5)
    sp.add_argument("--seed", type=seed, default=0)
    sp.add_argument("--strict", action="store_true",
                    help="confident learning: only predictions at least as sure as the class's average")
    sp.add_argument("--min-confidence", type=confidence, default=0.0,
                    help="only predictions with at least this probability (default 0)")
    sp.add_argument("--top", type=count, default=None, help="list at most N")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=run)


def run(args) -> int:
    from ...core.analysis.label_issues import find_label_issues
    from ...core.analysis.probe import probe_run
    from ...core.analysis.probe_files import load_probe
    from ...core.errors import ExplorerError
    from ...core.model.layers import resolve_layer
    from ...core.run.store import load_run

    if len(args.classifier) != 1:
        raise ExplorerError("label-issues uses one classifier: --classifier knn, logreg or svm.")
    (classifier,) = args.classifier
    run = load_run(run_folder(args.run_dir))
    layer = resolve_layer(run.layers, args.layer) if args.layer else run.layer
    result = load_probe(run, layer, classifier, folds=args.folds, seed=args.seed)
    reused = result is not None
    if result is None:  # computed once, then kept in the run folder
        (result,) = drive(probe_run(run, [layer], (classifier,), folds=args.folds, seed=args.seed), "probing",
                          unit="fold", quiet=args.json)
    issues = find_label_issues(result, filter_by="confident_learning" if args.strict else "predicted_neq_given",
                               min_confidence=args.min_confidence)
    shown = issues[:args.top] if args.top else issues
    rows = [dict(rank=k, **i.to_json(), path=run.rows[i.index].path) for k, i in enumerate(shown, 1)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{len(issues):,} possible label errors among {len(result.rows):,} labelled images ({classifier} probe "
          f"on {layer}, {result.folds}-fold out-of-fold, accuracy {result.accuracy:.3f}"
          f"{', kept from an earlier run' if reused else ''}); most suspicious first:")
    print(f"  {'rank':>4} {'#':>7}  {'label':<14}{'predicted':<14}{'p(label)':>9}{'p(pred)':>9}  path")
    for r in rows:
        print(f"  {r['rank']:>4} {r['index']:>7}  {r['label'][:13]:<14}{r['predicted'][:13]:<14}"
              f"{r['self_confidence']:>9.3f}{r['confidence']:>9.3f}  {r['path']}")
    if len(shown) < len(issues):
        print(f"  ... and {len(issues) - len(shown):,} more (--top)")
    return 0
