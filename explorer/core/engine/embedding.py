"""Batched extraction of one layer over a dataset, written into a resumable run folder.

Per image we keep the layer's output averaged over space (the feature vector) and,
per channel, the spatial maximum and where it is, so maximally activating patches
can be found later without running the network again.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..data.datasets import Dataset
from . import gpu_jpeg
from .lanes import HEARTBEAT_SECONDS, MAX_LANES, Lanes, Pace, interruptible, lane_chunks, lane_plan
from .loading import ImageRows, collate, on_device
from ..errors import DatasetError, ExplorerError
from ..model.extract import LOGITS
from ..model.graph import ModelGraph, model_graph
from ..model.zoo import LoadedModel
from ..progress import Step, Work
from ..run.arrays import PREDICTIONS, REGISTRY, default_arrays, keyed_arrays, plan
from ..run.locks import acquire as acquire_lock
from ..run.cache import cache_donor, cache_path, remember_cached
from ..run.folder import open_run
from ..run.store import Row, Run

POOLING = "mean"  # spatial average; part of the cache key


@dataclass
class EmbedResult:
    run: Run
    computed: int  # rows run through the network in this call
    reused: bool  # the run was already complete: nothing computed
    seconds: float
    device: str
    note: str = ""  # e.g. why the run folder was rebuilt (damaged or edited since it was written)


def half_forward(module: torch.nn.Module, x: torch.Tensor, device_type: str = "cuda") -> dict:
    """module(x) under float16 autocast; a batch that overflows float16 runs again in float32.

    float16, not bfloat16: its 3 more mantissa bits matter. On an H200, bfloat16 gave a cosine of 0.9975
    to the fp32 features at EfficientNet-Lite0's last layer and top-1 probabilities off by 0.08;
    float16's range (65504) is the risk, hence the retry rather than a NaN row marked failed.
    """
    with torch.autocast(device_type, dtype=torch.float16):
        outs = module(x)
    if all(bool(torch.isfinite(v).all()) for v in outs.values()):
        return outs
    return module(x)


def network(graph: ModelGraph, layers: Sequence[str], entries: list, device: torch.device) -> torch.nn.Module:
    """The extractor that fills `entries` ((array, layer or None for the logits)) on `device`, channels_last:
    2-3x faster for convs on CUDA and on oneDNN CPUs alike (collate stacks the batches in it)."""
    with_logits = any(at is None for _, at in entries)
    extractor = graph.extractor(layers, logits=with_logits).to(device)  # its own weights: the model stays put
    return extractor.to(memory_format=torch.channels_last)


def entry_values(extractor: torch.nn.Module, x: torch.Tensor, entries: list) -> dict:
    """{(array, layer): values} of a batch on the extractor's device; float16 autocast on CUDA (half_forward)."""
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        outs = half_forward(extractor, x) if x.device.type == "cuda" else extractor(x)
        return {(name, at): REGISTRY[name].values(outs[at if at is not None else LOGITS].float())
                for name, at in entries}


def resolve_device(name: str = "auto") -> torch.device:
    """auto picks CUDA, then Apple's MPS, then the CPU."""
    name = (name or "auto").lower()
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ExplorerError("--device cuda was requested but no CUDA GPU is available to PyTorch "
                            f"(torch {torch.__version__}); use --device auto or cpu.")
    if name == "mps" and not has_mps:
        raise ExplorerError("--device mps was requested but Apple's MPS is not available; use --device auto or cpu.")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ExplorerError(f"Unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps.") from None


def family_key(model: LoadedModel, layers: str | Sequence[str], arrays: Sequence[str] | None = None,
               decode: str = "cpu") -> str:
    """Everything that changes the numbers except the files: model, weights, layers, arrays, input, pooling.

    A one-layer run of the default arrays keeps the key of the first release, so its runs are found again;
    the predictions do not count (arrays.keyed_arrays): runs written before they were kept are found too.
    """
    layers = [layers] if isinstance(layers, str) else list(layers)
    parts = {"model": model.name, "weights": model.weights_id, "layer": layers[0],
             "preprocess": model.preprocess.to_dict(), "pooling": POOLING, "schema": 1}
    if len(layers) > 1:
        parts["layers"] = layers
    if arrays is not None and keyed_arrays(arrays) != keyed_arrays(default_arrays()):
        parts["arrays"] = keyed_arrays(arrays)
    if decode != "cpu":  # GPU-decoded pixels differ by a grey level here and there: their own runs
        parts["decode"] = decode
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def run_key(dataset: Dataset, model: LoadedModel, layers: str | Sequence[str],
            arrays: Sequence[str] | None = None, decode: str = "cpu") -> str:
    """Everything that changes the numbers: files (names, sizes, mtimes) and the family."""
    parts = {"dataset": dataset.fingerprint(), "family": family_key(model, layers, arrays, decode)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _layer_entry(info) -> dict:
    field = info.field
    return {"name": info.name, "shape": list(info.shape), "receptive_field": info.receptive_field,
            "stride": info.stride, "field": None if field is None else {
                "jump": list(field.j), "size": list(field.r), "start": list(field.start)}}


def _head_entry(model: LoadedModel, logits_shape: tuple[int, ...] | None) -> dict | None:
    """What the predictions' class indices mean: the number of classes and their names
    ("imagenet-1k": the shipped list in data.imagenet_classes, which every ImageNet head uses)."""
    if logits_shape is None or len(logits_shape) != 1:
        return None
    from ..data.imagenet_classes import CLASSES

    names = list(model.categories or []) or None
    if names is not None and names == [c[1] for c in CLASSES]:
        names = "imagenet-1k"
    return {"classes": int(logits_shape[0]), "categories": names}


def _manifest(dataset: Dataset, model: LoadedModel, infos: list, graph: ModelGraph, arrays: list[str],
              logits_shape: tuple[int, ...] | None, head: tuple[int, ...] | None = None,
              decode: str = "cpu") -> dict:
    import PIL
    import torchvision

    try:
        import timm
        timm_version = timm.__version__
    except ImportError:
        timm_version = None
    from ... import __version__

    layers = [_layer_entry(info) for info in infos]
    main = layers[0]
    return {
        "dataset": {"root": dataset.root, "classes": dataset.classes},
        "family": family_key(model, [l["name"] for l in layers], arrays, decode),
        "decode": decode,  # where the JPEGs were decoded (gpu_jpeg)
        "model": model.name,
        "weights": model.weights_id,
        # the main layer at the top level too, as the first release wrote it, for people and old readers
        "layer": main["name"],
        "layer_shape": main["shape"],
        "receptive_field": main["receptive_field"],
        "stride": main["stride"],
        "field": main["field"],
        "input_size": graph.input_size,
        "preprocess": model.preprocess.to_dict(),
        "pooling": POOLING,
        "layers": layers,
        "arrays": plan(layers, arrays, logits_shape),
        "head": _head_entry(model, head or logits_shape),
        "versions": {"explorer": __version__, "python": platform.python_version(), "torch": torch.__version__,
                     "torchvision": torchvision.__version__, "timm": timm_version, "numpy": np.__version__,
                     "pillow": PIL.__version__},
    }


class AdaptiveForward:
    """Runs `forward(x, device)` over a batch in chunks that fit the device.

    On an out-of-memory error the chunk is halved and the same rows are tried again;
    at one image per chunk the work moves to the CPU. `message` says what happened.
    """

    def __init__(self, forward, device: torch.device, batch_size: int):
        self.forward = forward
        self.device = device
        self.limit = batch_size
        self.message = ""

    def __call__(self, x: torch.Tensor) -> list:
        results, i = [], 0
        while i < len(x):
            chunk = x[i:i + self.limit]
            try:
                results.append(self.forward(chunk, self.device))
                i += len(chunk)
            except torch.OutOfMemoryError:
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                if len(chunk) > 1:
                    self.limit = max(1, len(chunk) // 2)
                    self.message = f"{self.device.type.upper()} out of memory: batch {self.limit}"
                elif self.device.type != "cpu":
                    self.message = (f"{self.device.type.upper()} out of memory even for one image: "
                                    "falling back to the CPU")
                    self.device = torch.device("cpu")
                    self.limit = max(1, interactive_batch(self.device))
                else:
                    raise
        return results


def summarise(out: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer output -> the default arrays as stored: features (B, C), channel max (B, C), argmax (B, C)."""
    return tuple(REGISTRY[name].prepare(REGISTRY[name].fill(out.float()))
                 for name in ("features", "channel_max", "channel_argmax"))


def interactive_batch(device: torch.device) -> int:
    """Batch size for an interactive session. On the CPU a cancel does not wait for it (the lanes stop
    within a layer); on 2 cores the lanes run up to 16 images a chunk (lane_chunks keeps a chunk under
    CHUNK_SECONDS): EfficientNet-Lite0 embedded at 127 images/s in the app; with 16 (8 a chunk), 103-111."""
    return 128 if device.type == "cuda" else 32


def default_workers(device: torch.device) -> int:
    cores = os.cpu_count() or 1
    if device.type == "cuda":
        return min(8, cores)
    return 0 if cores <= 2 else min(4, cores // 2)  # on few cores decoding competes with the forward


def embed_dataset(dataset: Dataset, model: LoadedModel, layer: str | Sequence[str] | None = None, *,
                  out: str | os.PathLike | None = None, device: str = "auto", batch_size: int | None = 64,
                  workers: int | None = None, overwrite: bool = False, graph: ModelGraph | None = None,
                  arrays: Sequence[str] | None = None, verify: bool = False,
                  decode: str = "auto", engine: str = "local", engine_options: dict | None = None
                  ) -> Work[EmbedResult]:
    """Embed every image of `dataset` at `layer` into the run folder `out` (default: the cache).

    `layer`: one layer, or several filled in one pass over the data (the first is the run's main
    layer); None is the model's default layer. `arrays`: the registered per-row arrays to keep
    (run.arrays.REGISTRY; None: the default ones). `verify`: read every file again and recompute
    the rows whose content changed (or is not known) since they were embedded. `decode`: where JPEGs
    are decoded (gpu_jpeg.choose: auto is the GPU when embedding on CUDA). `engine`: "local" (this
    machine) or "ray" (Ray Data tasks decode, actor pools run the network; engine_options: address,
    gpus_per_worker, workers; see ray_engine): the same numbers, so the two share runs and resume each other.
    Yields Steps (rows done, total, "N images/s"). Closing the generator cancels;
    finished rows stay on disk and the same call later computes only the rest.
    """
    start = time.perf_counter()
    dev = resolve_device(device)
    if dev.type == "cpu":  # the free cores, not all of them: under load, threads wait for each other
        from ..threads import free_cores

        torch.set_num_threads(free_cores())
    batch_size = interactive_batch(dev) if batch_size is None else batch_size
    if batch_size < 1:
        raise ExplorerError(f"--batch-size must be at least 1 (got {batch_size}).")
    graph = graph or model_graph(model)
    layers = [layer] if isinstance(layer, str) else list(layer or [graph.default])
    layers = list(dict.fromkeys(graph.resolve(name) for name in layers))  # block names: their output
    infos = [graph[name] for name in layers]
    head = _head_shape(graph)  # None: the model does not return one tensor (no classifier head)
    arrays = list(arrays) if arrays is not None else default_arrays(head)  # predictions too, with a head
    unknown = [name for name in arrays if name not in REGISTRY]
    if unknown:
        raise ExplorerError(f"Unknown array {unknown[0]!r}; known: {', '.join(REGISTRY)}.")
    with_logits = any(REGISTRY[name].source == "logits" for name in arrays)
    logits_shape = (head or _logits_shape(graph)) if with_logits else None  # (the latter raises, saying why)
    files = type(dataset).load is Dataset.load  # a folder of files (not a demo held in memory)
    if engine not in ("local", "ray"):
        raise ExplorerError(f"Unknown engine {engine!r}; choose local or ray.")
    # Ray's tasks decode with Pillow wherever they run: the CPU's pixels
    decoder = gpu_jpeg.choose(decode, dev) if files and engine == "local" else "cpu"
    key = run_key(dataset, model, layers, arrays, decoder)
    path = Path(out) if out is not None else cache_path(key)
    rows = [Row(i, it.path, it.label) for i, it in enumerate(dataset.items)]
    signatures = dataset.signatures()
    manifest = _manifest(dataset, model, infos, graph, arrays, logits_shape, head, decoder)
    lock = yield from acquire_lock(path)  # one writer per run folder: a second embed waits its turn
    try:
        return (yield from _embed_locked(dataset, model, graph, layers, with_logits, path, key, manifest, rows,
                                         signatures, cached=out is None, overwrite=overwrite, dev=dev,
                                         batch_size=batch_size, workers=workers, start=start, verify=verify,
                                         engine=engine, engine_options=dict(engine_options or {})))
    finally:
        lock.release()


def _embed_locked(dataset, model, graph, layers, with_logits, path, key, manifest, rows, signatures, *,
                  cached: bool, overwrite: bool, dev, batch_size: int, workers, start: float,
                  verify: bool = False, engine: str = "local", engine_options: dict | None = None
                  ) -> Work[EmbedResult]:
    """embed_dataset once it holds the run's lock."""
    run, resumed = open_run(path, key, manifest, rows, overwrite=overwrite, signatures=signatures)
    note = f"rebuilt: {run.rebuilt_because}" if run.rebuilt_because else ""
    planned = {e["name"] for e in manifest["arrays"]}
    if planned & set(PREDICTIONS) and not run.has_array("top5_classes"):  # opened as it is (folder.open_run)
        note = "; ".join(filter(None, [note, "this run holds no predictions (embedded before they were kept, or "
                                              "with --no-predictions): embed again with --overwrite to add them"]))
    changed = run.changed_rows(signatures) if resumed else np.zeros(0, np.int64)
    if len(changed):  # same names, sizes and times, yet the files changed: their rows are recomputed
        run.reset_rows(changed, signatures)
        names = ", ".join(run.rows[int(i)].path for i in changed[:3]) + (" ..." if len(changed) > 3 else "")
        note = (f"{len(changed):,} file{'s' if len(changed) > 1 else ''} changed since embedded (same size and "
                f"time, new status-change time): {names}; recomputed")
    if verify and resumed:
        altered = yield from _verify_contents(run, dataset)
        if len(altered):
            run.reset_rows(altered, signatures)
        note = "; ".join(filter(None, [note, f"--verify: read {len(run):,} files, {len(altered):,} changed or "
                                              "unknown since embedded, recomputed"]))
    if note:
        yield Step(0, len(run), note)
    if cached and not resumed and run.counts()["pending"] == len(run):
        donor = cache_donor(manifest["family"], dataset.root, exclude=path)  # the files changed since
        if donor is not None:
            run.copy_rows_from(donor, retry_failed=True)  # the folder changed: so may have its failures
            run.save()
    pending = np.flatnonzero(np.asarray(run.state) == 0)
    total = len(run)
    if resumed and len(pending) == 0:
        if not run.manifest.get("complete"):
            run.save(complete=True)
        _check_something_embedded(run)
        yield Step(total, total, "already embedded")
        return EmbedResult(run, 0, True, time.perf_counter() - start, str(dev), note)

    done = total - len(pending)
    where = f"Ray ({engine_options.get('address') or 'local'})" if engine == "ray" else str(dev)
    step = Step(done, total, f"loading {model.name} on {where}")
    yield step
    entries = [(e["name"], e["layer"]) for e in run.manifest["arrays"]]
    if engine == "ray":
        from .ray_engine import ray_batches

        source = ray_batches(dataset, model, layers, entries, pending, batch_size=batch_size, **engine_options)
    else:
        source = _local_batches(dataset, model, graph, layers, entries, pending, dev, batch_size, workers,
                                run.manifest.get("decode") == "gpu")
    computed = 0
    t0 = time.perf_counter()
    try:
        for batch in source:
            if batch is None:  # the lanes are still at work: the same step again, where a cancel can land
                yield step
                continue
            run.write_content(batch.idx, batch.digests)  # before any of these rows counts as done
            run.mark_failed_many(batch.failures)
            if len(batch.rows):
                finite = _finite_rows(batch.values)
                run.mark_failed_many([(int(i), "not-finite", f"{dataset.full_path(int(i))}: the network's output "
                                       "is not finite (NaN or infinity) for this image") for i in batch.rows[~finite]])
                if finite.any():
                    run.write_rows(batch.rows[finite], {k: v[finite] for k, v in batch.values.items()})
            computed += len(batch.idx)
            done += len(batch.idx)
            rate = computed / max(time.perf_counter() - t0, 1e-9)
            step = Step(done, total, f"{rate:,.0f} images/s" + (f" · {batch.message}" if batch.message else ""))
            yield step
    finally:
        source.close()  # stops DataLoader workers (or Ray's pipeline) at once when cancelled
        finished = not (np.asarray(run.state) == 0).any()
        run.save(complete=finished)
        if cached:
            remember_cached(run)
    _check_something_embedded(run)
    return EmbedResult(run, computed, False, time.perf_counter() - start, where, note)


@dataclass
class Computed:
    """One batch from an engine: every row it covered, their file digests, the failures, and the values
    of the rows that went through the network (entries -> (len(rows), ...) arrays)."""

    idx: np.ndarray
    digests: np.ndarray  # (len(idx), 16) uint8
    failures: list  # (row, kind, reason)
    rows: np.ndarray
    values: dict
    message: str = ""


def _local_batches(dataset, model, graph, layers, entries, pending, dev, batch_size, workers,
                   gpu_jpegs: bool):
    """This machine: DataLoader workers (or a prefetch thread, or lanes) decode, the device runs the network."""
    rows_in = ImageRows(dataset, model.preprocess, pending, gpu_jpegs=gpu_jpegs)
    workers = default_workers(dev) if workers is None else workers
    if dev.type == "cpu" and workers == 0:
        # one lane for a model fx cannot trace: its hook extractor is not safe on two threads
        plan = lane_plan(batch_size, max_lanes=MAX_LANES if graph.traced else 1)
        yield from _lane_batches(rows_in, graph, layers, entries, plan)
        return
    loader = torch.utils.data.DataLoader(
        rows_in, batch_size=batch_size, shuffle=False, collate_fn=collate,
        num_workers=workers, pin_memory=dev.type == "cuda", persistent_workers=False,
        prefetch_factor=4 if workers > 0 else None)
    # a GPU without workers: a prefetch thread decodes the next batch (it starts while the network is set up)
    batches = iter(loader) if workers > 0 else Lanes(loader, lambda batch: batch, lanes=1)
    try:
        extractor = network(graph, layers, entries, dev)  # the run's own arrays (an older run may have no logits)
        on = {"device": dev}

        def forward(xb: torch.Tensor, device: torch.device):
            if device != on["device"]:  # fell back to the CPU after running out of GPU memory
                extractor.to(device)
                on["device"] = device
            return entry_values(extractor, xb.to(device, non_blocking=True), entries)

        adaptive = AdaptiveForward(forward, dev, batch_size)
        for idx, x, reasons, digests in batches:
            idx = idx.numpy()
            if isinstance(x, list):  # JPEG bytes among them: decoded on the GPU (gpu_jpeg)
                x = on_device(rows_in, idx, x, reasons, on["device"])
            yield _computed(idx, x, reasons, digests, entries, adaptive)
    finally:
        if isinstance(batches, Lanes):
            batches.close()
        del batches  # stops DataLoader workers at once when cancelled


def _lane_batches(rows_in: ImageRows, graph, layers, entries, plan: tuple[int, int, int]):
    """The CPU with decoding in this process: lanes.Lanes decode and run their own chunks. None while
    every lane is still at work (a heartbeat: a cancel need not wait for a chunk to end)."""
    lanes, threads, chunk = plan
    cpu = torch.device("cpu")
    extractor = network(graph, layers, entries, cpu)
    stop = threading.Event()
    interruptible(extractor, stop)  # close() stops a lane within a layer
    adaptive = AdaptiveForward(lambda xb, _device: entry_values(extractor, xb, entries), cpu, chunk)

    pace = Pace()
    own = threading.local()  # each lane's buffer, reused chunk after chunk
    crop = rows_in.preprocess.crop

    def decode_and_run(part: range) -> Computed:
        if getattr(own, "buffer", None) is None:  # (lane_chunks never exceed `chunk`)
            own.buffer = torch.empty(chunk, crop, crop, 3)
        idx, x, reasons, digests = rows_in.chunk(part, own.buffer)
        start = time.perf_counter()
        done = _computed(idx.numpy(), x, reasons, digests, entries, adaptive)
        pace.observe(len(idx), time.perf_counter() - start)
        return done

    source = Lanes(lane_chunks(len(rows_in), chunk, lanes, pace), decode_and_run, lanes=lanes, threads=threads,
                   stop=stop, heartbeat=HEARTBEAT_SECONDS)
    try:
        yield from source
    finally:
        source.close()


def _computed(idx: np.ndarray, x: torch.Tensor, reasons: list, digests: torch.Tensor, entries: list,
              adaptive: AdaptiveForward) -> Computed:
    """A decoded batch through the network: the rows that failed to decode are left out and named."""
    bad = [k for k, r in enumerate(reasons) if r]
    good = np.array([k for k in range(len(idx)) if not reasons[k]], dtype=np.int64)
    values = {}
    if len(good):
        parts = adaptive(x[good] if len(bad) else x)
        values = {k: np.concatenate([p[k] for p in parts]) for k in entries}
    return Computed(idx, digests.numpy(), [(int(idx[k]), *reasons[k].split("\t", 1)) for k in bad],
                    idx[good], values, adaptive.message)


def _verify_contents(run: Run, dataset: Dataset) -> Work[np.ndarray]:
    """Rows whose file's bytes differ from the digest kept when they were embedded (or have none)."""
    rows = np.flatnonzero(np.asarray(run.state) != 0)
    kept = np.asarray(run.content) if run.content is not None else np.zeros((len(run), 16), np.uint8)
    altered = []
    for n, i in enumerate(rows):
        if n % 256 == 0:
            yield Step(n, len(rows), "verifying file contents")
        now = np.frombuffer(dataset.content_digest(int(i)), np.uint8)
        if not kept[i].any() or not np.array_equal(kept[i], now):
            altered.append(int(i))
    return np.array(altered, np.int64)


def _finite_rows(values: dict) -> np.ndarray:
    """(B,) bool: rows whose every float value is finite (NaN weights make NaN features)."""
    ok = None
    for v in values.values():
        if v.dtype.kind == "f":
            row_ok = np.isfinite(v.reshape(len(v), -1)).all(axis=1)
            ok = row_ok if ok is None else ok & row_ok
    return ok if ok is not None else np.ones(len(next(iter(values.values()))), bool)


def _head_shape(graph: ModelGraph) -> tuple[int, ...] | None:
    """Per image: the shape of the model's output ((K,) for a classifier), None when it has no one output.

    Read from the traced graph's shapes (no pass); models fx cannot trace run one image."""
    if graph.traced:
        try:
            meta = graph._logits_node().meta.get("tensor_meta")
        except ExplorerError:
            return None
        if hasattr(meta, "shape"):
            return tuple(int(s) for s in meta.shape[1:])
    try:
        return _logits_shape(graph)
    except (ExplorerError, AttributeError, TypeError, RuntimeError):  # no one tensor comes out
        return None


def _logits_shape(graph: ModelGraph) -> tuple[int, ...]:
    """Per image: the shape of the model's output, from a one-image pass of the logits extractor."""
    probe = graph.extractor([], logits=True, fold_bn=False)
    with torch.inference_mode():
        out = probe(torch.zeros(1, 3, graph.input_size, graph.input_size))[LOGITS]
    return tuple(int(s) for s in out.shape[1:])


def _check_something_embedded(run: Run) -> None:
    """A folder where not one image could be read is an error, not an empty map."""
    counts = run.counts()
    if counts["embedded"] == 0 and counts["pending"] == 0:
        summary = run.failure_summary()
        if set(summary) == {"not-finite"}:
            raise ExplorerError(f"The network's output is NaN or infinite for all {counts['items']:,} images: "
                                f"the weights ({run.weights}) probably contain NaN or infinite values. Nothing was "
                                "embedded; check the weights file.")
        kinds = ", ".join(f"{n} {kind}" for kind, n in run.failure_summary().items())
        first = next(iter(run.failures.values()), ("", ""))[1]
        raise DatasetError(f"None of the {counts['items']:,} files in {run.dataset_root} could be "
                           f"read as an image ({kinds}). First problem: {first}. The list is in "
                           f"{run.path / 'items.csv'}.")
