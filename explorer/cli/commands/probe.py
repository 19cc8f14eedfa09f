"""explorer probe RUN_OR_DATASET: how well a classifier on each layer's features predicts the labels."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..main import Cancelled, drive
from ..options import batch_size, count, device, image_size, seed, weights, whole, workers

folds = whole(2, what="a whole number of folds")


def classifiers(text: str) -> tuple[str, ...]:
    """knn, logreg, svm, several separated by commas, or all."""
    import argparse

    from ...core.analysis.probe import CLASSIFIERS

    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return CLASSIFIERS
    bad = [n for n in names if n not in CLASSIFIERS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"must be {', '.join(CLASSIFIERS)}, several separated by commas, or all "
                                         f"(got {text!r})")
    return tuple(dict.fromkeys(names))


def add_parser(sub) -> None:
    sp = sub.add_parser("probe", help="which layer separates the classes: cross-validated kNN / logistic "
                                      "regression / linear SVM on each layer's features")
    sp.add_argument("target", help="a run folder, or a dataset (folder or demo:digits) to embed with --model")
    sp.add_argument("--model", default=None, help="for a dataset: zoo name or timm:NAME (default: efficientnet_lite0)")
    sp.add_argument("--weights", default=None, help="for a dataset: PATH, 'random' (seeded), or omit for pretrained")
    sp.add_argument("--image-size", type=image_size, default=None)
    what = sp.add_mutually_exclusive_group()
    what.add_argument("--layers", default=None, help="layers or block names, comma-separated (default: a run's "
                                                     "layers; a dataset's blocks)")
    what.add_argument("--blocks", action="store_true", help="for a dataset: the outputs of the model's main blocks")
    sp.add_argument("--classifier", type=classifiers, default=("logreg",),
                    help="knn, logreg, svm, several separated by commas, or all (default: logreg)")
    sp.add_argument("--folds", type=folds, default=5, help="stratified cross-validation folds (default 5)")
    sp.add_argument("--sample", type=whole(2, what="a whole number of images"), default=None,
                    help="probe at most N images (stratified, seeded); for a dataset only those are embedded")
    sp.add_argument("--seed", type=seed, default=0)
    sp.add_argument("--device", type=device, default="auto")
    sp.add_argument("--batch-size", type=batch_size, default=64)
    sp.add_argument("--workers", type=workers, default=None)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=run)


def is_run(target: str) -> bool:
    return (Path(target).expanduser() / "manifest.json").is_file()


def run(args) -> int:
    from ...core.errors import ExplorerError

    names = [n.strip() for n in (args.layers or "").split(",") if n.strip()] or None
    try:
        if is_run(args.target):
            if args.blocks or args.model:
                raise ExplorerError(f"{args.target} is a run folder: its layers are probed (--layers picks some); "
                                    "--model and --blocks are for a dataset.")
            results, blocks = _probe_run(args, names), {}
        else:
            from ...core.analysis.layer_probe import probe_dataset

            work = probe_dataset(args.target, args.model or "efficientnet_lite0", weights=weights(args.weights),
                                 layers=names, blocks=args.blocks, classifiers=args.classifier, folds=args.folds,
                                 sample=args.sample, seed=args.seed, image_size=args.image_size, device=args.device,
                                 batch_size=args.batch_size, workers=args.workers)
            done = drive(work, "probing", quiet=args.json)
            results, blocks = done.results, done.blocks
            print(f"features kept in {done.run.path}", file=sys.stderr)
    except Cancelled:
        print("Cancelled. Probes already finished are kept in the run folder.", file=sys.stderr)
        raise
    given = {layer: block for block, layer in blocks.items()}
    rows = [dict(r.summary(), **({"block": given[r.layer]} if r.layer in given else {})) for r in results]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    notes = dict.fromkeys(n for r in results for n in r.notes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    n = rows[0]["n"] if rows else 0
    print(f"{n:,} images, {rows[0]['folds'] if rows else args.folds}-fold stratified cross-validation "
          f"(seed {args.seed}); accuracy = mean over folds +- std")
    print(f"  {'layer':<32}{'classifier':<11}{'accuracy':>16}{'features':>10}")
    for r in rows:
        name = f"{r['layer']} ({r['block']})" if "block" in r else r["layer"]
        print(f"  {name:<32}{r['classifier']:<11}{r['accuracy']:>9.3f} +- {r['std']:.3f}{r['n_features']:>10,}")
    return 0


def _probe_run(args, names):
    from ...core.analysis.probe import probe_run
    from ...core.model.layers import resolve_layer
    from ...core.run.store import load_run
    from ..options import run_folder

    run = load_run(run_folder(args.target))
    layers = [resolve_layer(run.layers, name) for name in names] if names else None
    return drive(probe_run(run, layers, args.classifier, folds=args.folds, seed=args.seed, sample=args.sample),
                 "probing", unit="fold", quiet=args.json)
