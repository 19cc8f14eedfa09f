"""explorer embed DATASET: every image through one or more layers into a run folder (resumed, or reused)."""

from __future__ import annotations

import sys

from ...core.errors import ExplorerError
from ..main import Cancelled, drive
from ..options import embed_options, fraction_or_count, layers, output_folder, weights


def add_parser(sub) -> None:
    sp = sub.add_parser("embed", help="embed every image of a dataset with one or more layers into a run folder")
    sp.add_argument("dataset", help="a folder (class sub-folders as labels) or demo:digits")
    sp.add_argument("--out", default=None, help="run folder (default: the app's cache)")
    sp.add_argument("--overwrite", action="store_true", help="replace a different run in --out")
    sp.add_argument("--verify", action="store_true",
                    help="read every file again and recompute the rows whose content changed since embedded")
    sp.add_argument("--no-predictions", action="store_true",
                    help="do not keep the classifier's top-5 and logits (an early layer then runs only up to "
                         "that layer: several times faster)")
    embed_options(sp)
    sp.add_argument("--engine", choices=("local", "ray"), default="local",
                    help="local (this machine) or ray: Ray Data tasks decode, actor pools run the network, on a "
                         "cluster (--address) or a local Ray instance; needs the [ray] extra")
    sp.add_argument("--address", default=None, help="with --engine ray: auto or HOST:PORT of a running Ray cluster "
                    "(default: start a local one)")
    sp.add_argument("--gpus-per-worker", type=fraction_or_count, default=0,
                    help="with --engine ray: GPUs each network worker holds (0: CPU workers)")
    sp.set_defaults(func=run)


def summary_line(run) -> str:
    c = run.counts()
    text = f"{c['embedded']:,} embedded"
    if c["failed"]:
        parts = ", ".join(f"{n} {status}" for status, n in run.failure_summary().items())
        text += f", {c['failed']:,} skipped: {parts}"
    if c["pending"]:
        text += f", {c['pending']:,} not yet embedded"
    return text


def embed(dataset_spec: str, args, quiet: bool = False):
    """core.pipeline.open_or_embed under a progress bar: the app's own chain. Returns its Opened."""
    from ...core.data.datasets import describe
    from ...core.pipeline import EmbedRequest, Prepared, open_or_embed

    layer = layers(args.layer)
    if args.out is not None:
        output_folder(args.out, "--out")  # a read-only place, or one under a file: said before any work
    if getattr(args, "engine", "local") == "ray":  # said before the listing and the model, not after
        from ...core.engine.ray_engine import MISSING, available

        if not available():
            raise ExplorerError(MISSING)
    elif (getattr(args, "address", None) or getattr(args, "gpus_per_worker", 0)):
        raise ExplorerError("--address and --gpus-per-worker go with --engine ray.")
    if getattr(args, "decode", "auto") == "gpu":  # said before the listing and the model, not after
        from ...core.engine.embedding import resolve_device
        from ...core.engine.gpu_jpeg import choose

        choose("gpu", resolve_device(args.device))
    request = EmbedRequest(dataset_spec, args.model, weights(args.weights), layer, args.image_size,
                           args.out, args.device, args.batch_size, args.workers,
                           getattr(args, "overwrite", False), verify=getattr(args, "verify", False),
                           predictions=not getattr(args, "no_predictions", False),
                           decode=getattr(args, "decode", "auto"), engine=getattr(args, "engine", "local"),
                           ray_address=getattr(args, "address", None),
                           gpus_per_worker=getattr(args, "gpus_per_worker", 0))

    def loaded(partial, bar):
        if isinstance(partial, Prepared):  # the model is loaded: the embedding starts
            if not quiet:
                bar.write(f"{partial.dataset.root}: {describe(partial.dataset)}", file=sys.stderr)
            names = layer if isinstance(layer, tuple) else (layer or partial.graph.default,)
            try:  # the node embedded: a block name (`layer3`) stands for its output node
                shown = "+".join(partial.graph.resolve(name) for name in names)
            except ExplorerError:  # an unknown name: the embedding itself says so
                shown = "+".join(names)
            bar.set_description(f"embedding {partial.model.name}/{shown}")

    try:
        return drive(open_or_embed(request), "opening", quiet=quiet, on_partial=loaded)
    except Cancelled:
        print("Cancelled. Finished rows are saved; run the same command again to resume.", file=sys.stderr)
        raise


def run(args) -> int:
    result = embed(args.dataset, args).result
    run = result.run
    how = "already complete, reused" if result.reused else \
        f"{result.computed:,} images in {result.seconds:.1f} s on {result.device}"
    if result.note:
        print(f"note: {result.note}", file=sys.stderr)
    print(f"{run.path}: {summary_line(run)} ({how})")
    bad = [r.index for r in run.rows if run.status(r.index)[0] not in ("ok", "pending")]
    for i in bad[:10]:
        print(f"  skipped {run.rows[i].path}: {run.status(i)[1]}", file=sys.stderr)
    if len(bad) > 10:
        print(f"  ... and {len(bad) - 10} more (see {run.path / 'items.csv'})", file=sys.stderr)
    return 0
