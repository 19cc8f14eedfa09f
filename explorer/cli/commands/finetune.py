"""explorer finetune DATASET --out CHECKPOINT: a new head for the dataset's classes, trained on its images."""

from __future__ import annotations

import json
import sys

from ..options import batch_size, device, fraction, image_size, output_file, positive, weights, whole


def add_parser(sub) -> None:
    sp = sub.add_parser("finetune", help="replace the model's output layer with one for the dataset's classes "
                                         "and train it (optionally the last blocks too)")
    sp.add_argument("dataset", help="a folder with one sub-folder per class")
    sp.add_argument("--model", default="efficientnet_lite0")
    sp.add_argument("--weights", default=None, help="PATH, 'random', or omit for pretrained")
    sp.add_argument("--image-size", type=image_size, default=None)
    sp.add_argument("--unfreeze", type=whole(0, what="a number of blocks"), default=0,
                    help="also train the last N blocks (default 0: the head only)")
    sp.add_argument("--epochs", type=whole(1, 10_000, what="a number of epochs"), default=20)
    sp.add_argument("--lr", type=positive, default=1e-3, help="the head's learning rate (blocks: a tenth)")
    sp.add_argument("--batch-size", type=batch_size, default=32)
    sp.add_argument("--val-fraction", type=fraction, default=0.2)
    sp.add_argument("--patience", type=whole(1, what="a number of epochs"), default=5,
                    help="stop after this many epochs without a lower validation loss")
    sp.add_argument("--seed", type=whole(0, 2**32 - 1), default=0)
    sp.add_argument("--device", type=device, default="auto")
    sp.add_argument("--out", required=True, metavar="CHECKPOINT",
                    help="where to write the checkpoint (load it with --weights)")
    sp.add_argument("--json", action="store_true", help="print the result as JSON")
    sp.set_defaults(func=run)


def run(args) -> int:
    from ...core.data.datasets import scan_dataset
    from ...core.engine.finetune import FinetuneConfig, finetune
    from ...core.model.zoo import load_model
    from ..main import drive

    out = output_file(args.out, "--out", example="finetuned.pt")
    dataset = drive(scan_dataset(args.dataset), "listing", unit="file", quiet=args.json)
    model = load_model(args.model, weights(args.weights), image_size=args.image_size)
    config = FinetuneConfig(epochs=args.epochs, unfreeze=args.unfreeze, lr=args.lr, batch_size=args.batch_size,
                            val_fraction=args.val_fraction, patience=args.patience, seed=args.seed,
                            device=args.device)

    def show(epoch, bar):
        bar.write(f"epoch {epoch.epoch:3d}  train loss {epoch.train_loss:.4f} acc {epoch.train_accuracy:.3f}  "
                  f"val loss {epoch.val_loss:.4f} acc {epoch.val_accuracy:.3f}  ({epoch.seconds:.1f} s)",
                  file=sys.stderr)

    result = drive(finetune(dataset, model, out=out, config=config), "fine-tuning", unit="epoch",
                   quiet=args.json, on_partial=None if args.json else show)
    if args.json:
        print(json.dumps(result.to_json(), allow_nan=False))
        return 0
    print(f"{len(result.classes)} classes ({', '.join(result.classes[:5])}{', ...' if len(result.classes) > 5 else ''}); "
          f"trained {result.head}" + (f" and {', '.join(result.trained)}" if result.trained else "")
          + f" on {result.n_train} images, validated on {result.n_val}")
    print(f"best epoch {result.best_epoch} of {len(result.epochs)}: validation accuracy {result.val_accuracy:.3f}"
          + (f" (frozen linear probe: {result.probe_val_accuracy:.3f})" if result.probe_val_accuracy is not None
             else "") + (" · stopped early" if result.stopped_early else ""))
    if result.note:
        print(f"note: {result.note}")
    print(f"checkpoint: {result.checkpoint} (use it with --model {args.model} --weights {result.checkpoint})")
    return 0
