"""Command line: the same core generators as the app, driven by tqdm. Never imports Qt.

Heavy libraries are imported inside the commands so `explorer --help` is instant.
"""

from __future__ import annotations

import argparse
import json
import sys

from .. import __version__

EXIT_ERROR, EXIT_CANCELLED = 2, 130


class Cancelled(Exception):
    pass


def drive(work, desc: str, unit: str = "img", quiet: bool = False):
    """Run a generator of Steps under a tqdm bar; Ctrl-C closes it and raises Cancelled."""
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, dynamic_ncols=True, disable=quiet, file=sys.stderr)
    try:
        while True:
            try:
                step = next(work)
            except StopIteration as stop:
                return stop.value
            if step.total is not None and bar.total != step.total:
                bar.total = step.total
            if step.done > bar.n:
                bar.update(step.done - bar.n)
            if not step.label.endswith("/s"):  # tqdm shows the rate itself
                bar.set_postfix_str(step.label)
    except KeyboardInterrupt:
        work.close()
        raise Cancelled from None
    finally:
        bar.close()


def _weights(value: str | None):
    return None if value in (None, "", "pretrained") else value


def cmd_models(args) -> int:
    from ..core.model.zoo import list_models

    models = list_models()
    if args.json:
        print(json.dumps([m.__dict__ for m in models], indent=2))
        return 0
    print(f"{'model':<22}{'source':<13}{'weights':<14}where")
    for m in models:
        print(f"{m.name:<22}{m.source:<13}{m.weights:<14}{m.detail}")
    print(f"{'timm:NAME':<22}{'timm':<13}{'hub':<14}any timm architecture; --weights PATH or random offline")
    return 0


def cmd_layers(args) -> int:
    from ..core.model.layers import list_layers
    from ..core.model.zoo import load_model

    model = load_model(args.model, _weights(args.weights), image_size=args.image_size)
    graph = list_layers(model.module, model.preprocess.crop)
    if args.json:
        print(json.dumps([l.to_json() for l in graph.layers], indent=2))
        return 0
    print(f"{model.name} ({model.weights_id}), input {graph.input_size}x{graph.input_size}; "
          f"default layer: {graph.default}")
    print(f"{'layer':<40}{'shape':<18}{'receptive field':>16}{'stride':>8}")
    for l in graph.layers:
        shape = "x".join(str(s) for s in l.shape)
        rf = "-" if l.receptive_field is None else f"{l.receptive_field}px"
        stride = "-" if l.stride is None else str(l.stride)
        print(f"{l.name:<40}{shape:<18}{rf:>16}{stride:>8}")
    return 0


def summary_line(run) -> str:
    c = run.counts()
    text = f"{c['embedded']:,} embedded"
    if c["failed"]:
        parts = ", ".join(f"{n} {status}" for status, n in run.failure_summary().items())
        text += f", {c['failed']:,} skipped: {parts}"
    if c["pending"]:
        text += f", {c['pending']:,} not yet embedded"
    return text


def _embed(dataset_spec: str, args, quiet: bool = False):
    from ..core.data.datasets import describe
    from ..core.pipeline import EmbedRequest, embed_request, prepare

    request = EmbedRequest(dataset_spec, args.model, _weights(args.weights), args.layer, args.image_size,
                           args.out, args.device, args.batch_size, args.workers,
                           getattr(args, "overwrite", False))
    from ..core.run.requests import find_finished, list_once

    dataset = drive(list_once(request), "listing", unit="file", quiet=quiet)
    finished = find_finished(request, dataset)  # a cached, complete run: no model to load
    if finished is not None:
        from ..core.engine.embedding import EmbedResult

        return None, EmbedResult(finished, 0, True, 0.0, "cache")
    prepared = drive(prepare(request, dataset), "preparing", unit="file", quiet=quiet)
    if not quiet:
        print(f"{prepared.dataset.root}: {describe(prepared.dataset)}", file=sys.stderr)
    layer = args.layer or prepared.graph.default
    try:
        result = drive(embed_request(request, prepared), f"embedding {prepared.model.name}/{layer}", quiet=quiet)
    except Cancelled:
        print("Cancelled. Finished rows are saved; run the same command again to resume.", file=sys.stderr)
        raise
    return prepared.dataset, result


def cmd_embed(args) -> int:
    _dataset, result = _embed(args.dataset, args)
    run = result.run
    how = "already complete, reused" if result.reused else \
        f"{result.computed:,} images in {result.seconds:.1f} s on {result.device}"
    print(f"{run.path}: {summary_line(run)} ({how})")
    bad = [r.index for r in run.rows if run.status(r.index)[0] not in ("ok", "pending")]
    for i in bad[:10]:
        print(f"  skipped {run.rows[i].path}: {run.status(i)[1]}", file=sys.stderr)
    if len(bad) > 10:
        print(f"  ... and {len(bad) - 10} more (see {run.path / 'items.csv'})", file=sys.stderr)
    return 0


def cmd_project(args) -> int:
    from ..core.analysis.projection import project_run
    from ..core.run.store import load_run

    run = load_run(args.run_dir)
    layout = drive(project_run(run, args.method, perplexity=args.perplexity, seed=args.seed),
                   args.method, unit="it")
    n = int((layout[:, 0] == layout[:, 0]).sum())
    print(f"{run.path / f'projection-{args.method}.npy'}: {n:,} points "
          f"(also projection-{args.method}.csv)")
    return 0


def cmd_neighbours(args) -> int:
    from ..core.analysis.neighbours import NeighbourIndex
    from ..core.run.store import load_run

    run = load_run(args.run_dir)
    index = NeighbourIndex(run.features, metric=args.metric, valid=run.done_mask)
    found = index.query(args.index, args.k)
    rows = [{"index": n.index, "distance": n.distance, "path": run.rows[n.index].path,
             "label": run.rows[n.index].label} for n in found]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    me = run.rows[args.index]
    print(f"{args.k} nearest to #{args.index} {me.path} (label {me.label}), {args.metric} distance:")
    for r in rows:
        print(f"  #{r['index']:<7} {r['distance']:.4f}  {r['label'] or '-':<12} {r['path']}")
    return 0


def cmd_kernels(args) -> int:
    from PIL import Image

    from ..core.model.kernels import kernel_grid
    from ..core.model.zoo import load_model

    model = load_model(args.model, _weights(args.weights))
    grid = kernel_grid(model.module, pixels=args.pixels)
    Image.fromarray(grid.image).save(args.out)
    kh, kw = grid.kernel_size
    print(f"{args.out}: {grid.n_kernels} kernels of {kh}x{kw} from {model.name}/{grid.layer} "
          f"({'RGB' if grid.colour else 'grey'}, mid-grey = 0)")
    return 0


def cmd_patches(args) -> int:
    from pathlib import Path

    from ..core.analysis.patches import crop_patch, top_patches
    from ..core.run.store import load_run

    run = load_run(args.run_dir)
    patches = top_patches(run, args.channel, args.k)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for rank, patch in enumerate(patches):
        crop_patch(run, patch).save(out / f"channel{args.channel:04d}-rank{rank:02d}-item{patch.index}.png")
    if args.json:
        print(json.dumps([p.to_json() for p in patches], indent=2))
    else:
        print(f"channel {args.channel} of {run.manifest['layer']}: {len(patches)} patches in {out}")
        for p in patches:
            print(f"  {p.activation:10.4f}  #{p.index:<6} {p.path}  box {list(p.box)}")
    return 0


def cmd_cache(args) -> int:
    from ..core.run.store import cache_root, cached_runs, clear_cache

    if args.clear:
        n, freed = clear_cache()
        print(f"removed {n} cached runs ({freed / 1e6:,.1f} MB) from {cache_root()}")
        return 0
    runs = cached_runs()
    total = sum(r.size_bytes for r in runs)
    print(f"{cache_root()}: {len(runs)} runs, {total / 1e6:,.1f} MB (explorer cache --clear removes them)")
    for r in runs:
        m = r.manifest or {}
        state = "damaged" if r.manifest is None else ("complete" if m.get("complete") else "partial")
        counts = m.get("counts", {})
        print(f"  {r.path.name}  {r.size_bytes / 1e6:8.1f} MB  {state:<8} {m.get('updated', '?'):<24} "
              f"{m.get('model', '?')}/{m.get('layer', '?')}  {counts.get('embedded', '?')} images  "
              f"{m.get('dataset', {}).get('root', '?')}")
    return 0


def cmd_export(args) -> int:
    import numpy as np

    from ..core.run.export import projector_tsv, selection_csv
    from ..core.run.store import load_run

    run = load_run(args.run_dir)
    if not (args.projector or args.csv):
        print("error: give --projector DIR and/or --csv PATH", file=sys.stderr)
        return EXIT_ERROR
    if args.projector:
        tensors, meta = projector_tsv(run, args.projector)
        print(f"{tensors} and {meta.name}: load both in the TensorBoard projector")
    if args.csv:
        layout = None
        from ..core.analysis.projection import projection_path

        for method in ("tsne", "pca"):
            path = projection_path(run, method)
            if path.exists():
                layout = np.load(path)
                break
        selection_csv(run, [r.index for r in run.rows], layout, args.csv)
        print(f"{args.csv}: {len(run):,} rows" + ("" if layout is not None else " (no projection yet: x, y empty)"))
    return 0


def cmd_demo(args) -> int:
    """The whole pipeline on the bundled digits, in the terminal."""
    import numpy as np

    from ..core.analysis.neighbours import NeighbourIndex
    from ..core.analysis.projection import project_run

    args.out = None
    _dataset, result = _embed("demo:digits", args)
    run = result.run
    print(f"features: {run.features.shape[0]:,} x {run.features.shape[1]} ({run.manifest['model']}, "
          f"layer {run.manifest['layer']}) in {run.path}")
    drive(project_run(run, "pca"), "PCA", unit="it")
    drive(project_run(run, "tsne", seed=0), "t-SNE", unit="it")
    index = NeighbourIndex(run.features, metric="cosine", valid=run.done_mask)
    labels = np.array([r.label for r in run.rows])
    k = 10
    agree = np.mean([np.mean([labels[n.index] == labels[i] for n in index.query(i, k)])
                     for i in np.flatnonzero(run.done_mask)])
    print(f"{summary_line(run)}; PCA and t-SNE maps saved.")
    print(f"Nearest-neighbour label agreement (k={k}, cosine): {agree:.1%} "
          f"(chance {1 / len(set(labels)):.0%}).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="explorer", description="CNN Feature Explorer: see what a CNN has learned "
                                "about your images. Without a command: the desktop app.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command")

    def model_opts(sp, with_layer: bool = True):
        sp.add_argument("--model", default="efficientnet_lite0",
                        help="zoo name or timm:NAME (default: efficientnet_lite0, bundled)")
        sp.add_argument("--weights", default=None,
                        help="PATH of a state dict, 'random' (seeded), or omit for pretrained")
        sp.add_argument("--image-size", type=int, default=None, help="input size in pixels (default: the model's)")
        if with_layer:
            sp.add_argument("--layer", default=None, help="layer name (default: last spatial layer)")

    def embed_opts(sp):
        model_opts(sp)
        sp.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
        sp.add_argument("--batch-size", type=int, default=64)
        sp.add_argument("--workers", type=int, default=None, help="image decoding processes (default: by device)")

    sp = sub.add_parser("models", help="list the model zoo with each model's weights status")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_models)

    sp = sub.add_parser("layers", help="list a model's layers with shapes and receptive fields")
    sp.add_argument("model")
    sp.add_argument("--weights", default=None)
    sp.add_argument("--image-size", type=int, default=None)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_layers)

    sp = sub.add_parser("embed", help="embed every image of a dataset with one layer into a run folder")
    sp.add_argument("dataset", help="a folder (class sub-folders as labels) or demo:digits")
    sp.add_argument("--out", default=None, help="run folder (default: the app's cache)")
    sp.add_argument("--overwrite", action="store_true", help="replace a different run in --out")
    embed_opts(sp)
    sp.set_defaults(func=cmd_embed)

    sp = sub.add_parser("project", help="2-D map of a run's features (PCA or t-SNE)")
    sp.add_argument("run_dir")
    sp.add_argument("--method", choices=("pca", "tsne"), default="pca")
    sp.add_argument("--perplexity", type=float, default=30.0)
    sp.add_argument("--seed", type=int, default=0)
    sp.set_defaults(func=cmd_project)

    sp = sub.add_parser("neighbours", aliases=["neighbors"], help="nearest items in feature space")
    sp.add_argument("run_dir")
    sp.add_argument("index", type=int)
    sp.add_argument("-k", type=int, default=10)
    sp.add_argument("--metric", choices=("cosine", "euclidean"), default="cosine")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_neighbours)

    sp = sub.add_parser("kernels", help="save the first convolution's kernels as an image grid")
    sp.add_argument("model")
    sp.add_argument("--weights", default=None)
    sp.add_argument("--out", required=True, metavar="PNG")
    sp.add_argument("--pixels", type=int, default=48, help="tile size on screen (kernels are enlarged, not blurred)")
    sp.set_defaults(func=cmd_kernels)

    sp = sub.add_parser("patches", help="the maximally activating patches of one channel of a run's layer")
    sp.add_argument("run_dir")
    sp.add_argument("--channel", type=int, required=True)
    sp.add_argument("-k", type=int, default=9)
    sp.add_argument("--out", required=True, metavar="DIR")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_patches)

    sp = sub.add_parser("cache", help="list the runs the app cached (size, dataset, model, layer), or clear them")
    sp.add_argument("--clear", action="store_true", help="delete every cached run")
    sp.set_defaults(func=cmd_cache)

    sp = sub.add_parser("export", help="write a run as TensorBoard projector TSVs and/or a CSV")
    sp.add_argument("run_dir")
    sp.add_argument("--projector", metavar="DIR", help="write tensors.tsv and metadata.tsv into DIR")
    sp.add_argument("--csv", metavar="PATH", help="write index, path, label, x, y (latest projection)")
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser("gui", help="open the desktop app (the default without a command)")
    sp.add_argument("dataset", nargs="?", default=None, help="a folder or demo:digits (default: last used)")
    sp.add_argument("--model", default=None)
    sp.add_argument("--weights", default=None)
    sp.add_argument("--layer", default=None)
    sp.add_argument("--projection", choices=("pca", "tsne"), default=None)
    sp.add_argument("--screenshot", default=None, metavar="PATH",
                    help="run the pipeline, save the window to PATH once the final map is drawn, and exit")

    sp = sub.add_parser("demo", help="run the whole pipeline on the bundled digits in the terminal")
    embed_opts(sp)
    sp.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "gui"):
        parser.error("the desktop app starts from 'explorer' or 'python -m explorer' (explorer/__main__.py)")
    from ..core.errors import ExplorerError

    try:
        return args.func(args)
    except ExplorerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (Cancelled, KeyboardInterrupt):
        return EXIT_CANCELLED


if __name__ == "__main__":
    sys.exit(main())
