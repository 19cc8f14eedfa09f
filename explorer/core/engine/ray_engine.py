"""Embedding on a Ray cluster (Ray Data): tasks read and decode the files, an actor pool runs the network.

    explorer embed DATASET --engine ray [--address auto|HOST:PORT] [--gpus-per-worker N] [--workers N]

The driver (this process) lists the folder, opens the run folder and writes each batch as it comes
back, through the same writer as the local engine: the same run format, failures and resume (rows
written stay written; a killed driver resumes with only the rest, a killed worker's batch is retried
by Ray). The numbers are the local engine's (Pillow decodes, the same preprocessing and network), so
the two engines share runs. Without an address a local Ray instance is started and stopped.

Every node must read the dataset at the same path (a shared file system); the model travels to the
workers through Ray's object store, so fine-tuned checkpoints need no copying.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from ..errors import ExplorerError

MISSING = "--engine ray needs Ray Data: pip install 'cnn-feature-explorer[ray]' (or pip install 'ray[data]')"


def available() -> bool:
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


def _ray():
    if not available():
        raise ExplorerError(MISSING)
    import ray
    import ray.data  # noqa: F401

    return ray


def decode_rows(batch: dict, preprocess) -> dict:
    """A Ray task: files -> preprocessed pixels, or the reason they failed (as the local engine words it)."""
    from ..data.datasets import file_digest
    from ..data.decode import load_rgb
    from .loading import prepare

    paths = [str(p) for p in batch["path"]]
    crop = preprocess.crop
    pixels = np.zeros((len(paths), 3, crop, crop), np.float32)
    digests = np.zeros((len(paths), 16), np.uint8)
    reasons = []
    for k, path in enumerate(paths):
        digests[k] = np.frombuffer(file_digest(path), np.uint8)
        x, reason = prepare(lambda draft_size: load_rgb(path, draft_size=draft_size), path, preprocess)
        pixels[k] = x.numpy()
        reasons.append(reason)
    return {"row": np.asarray(batch["row"], np.int64), "pixels": pixels, "digest": digests,
            "reason": np.asarray(reasons, dtype=object)}


class Forward:
    """A Ray actor: the network on its device, run on the rows that decoded."""

    def __init__(self, model, layers: list[str], entries: list, device: str):
        import torch

        import ray

        from ..model.graph import model_graph
        from .embedding import network

        if isinstance(model, ray.ObjectRef):  # one copy in the object store, fetched once per actor
            model = ray.get(model)
        threads = int(os.environ.get("OMP_NUM_THREADS") or 0)
        if threads > 0:  # Ray sets it to the CPUs the actor holds
            torch.set_num_threads(threads)
        self.entries, self.device = [tuple(e) for e in entries], torch.device(device)
        self.extractor = network(model_graph(model), layers, self.entries, self.device)

    def __call__(self, batch: dict) -> dict:
        import torch

        from .embedding import entry_values

        good = np.asarray([not r for r in batch["reason"]], bool)
        out = {"row": batch["row"], "digest": batch["digest"], "reason": batch["reason"]}
        # a batch that all failed still runs one blank image: every batch has the same columns
        pixels = batch["pixels"][good] if good.any() else batch["pixels"][:1] * 0
        found = entry_values(self.extractor, torch.from_numpy(np.ascontiguousarray(pixels)).to(self.device),
                             self.entries)
        for j, entry in enumerate(self.entries):
            values = found[entry]
            column = np.zeros((len(good),) + values.shape[1:], values.dtype)
            column[good] = values[:good.sum()]
            out[f"v{j}"] = column
        return out


def ray_batches(dataset, model, layers: list[str], entries: list, pending: np.ndarray, *, batch_size: int,
                address: str | None = None, gpus_per_worker: float = 0, workers: int | None = None):
    """Yields embedding.Computed batches as Ray returns them (in any order)."""
    from .embedding import Computed

    from ..data.datasets import Dataset

    if type(dataset).load is not Dataset.load:  # a demo held in memory: no files for the workers to read
        raise ExplorerError("--engine ray embeds folders of image files; run demo datasets with the local engine.")
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        _start(ray, address)
    try:
        if gpus_per_worker and not ray.cluster_resources().get("GPU"):
            raise ExplorerError(f"--gpus-per-worker {gpus_per_worker}: the Ray cluster has no GPUs.")
        if workers is None:
            gpus = ray.cluster_resources().get("GPU", 0)
            cpus = ray.cluster_resources().get("CPU", 1)
            workers = max(1, int(gpus // gpus_per_worker) if gpus_per_worker else int(cpus // 4))
        model_ref = ray.put(model)
        items = [{"row": int(i), "path": dataset.full_path(int(i))} for i in pending]
        data = ray.data.from_items(items)
        data = data.map_batches(decode_rows, fn_kwargs={"preprocess": model.preprocess}, batch_size=batch_size,
                                batch_format="numpy")
        data = data.map_batches(
            Forward, fn_constructor_kwargs={"model": model_ref, "layers": list(layers), "entries": entries,
                                            "device": "cuda" if gpus_per_worker else "cpu"},
            batch_size=batch_size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=workers),
            num_gpus=gpus_per_worker or None)
        for batch in data.iter_batches(batch_size=None, batch_format="numpy"):
            idx = np.asarray(batch["row"], np.int64)
            reasons = [str(r) for r in batch["reason"]]
            bad = [k for k, r in enumerate(reasons) if r]
            good = np.asarray([not r for r in reasons], bool)
            values = {e: batch[f"v{j}"][good] for j, e in enumerate(entries)}
            yield Computed(idx, np.asarray(batch["digest"], np.uint8),
                           [(int(idx[k]), *reasons[k].split("\t", 1)) for k in bad], idx[good], values)
    finally:
        if started:
            ray.shutdown()


def _start(ray, address: str | None) -> None:
    """Connect to a cluster, or start a local instance that can import this package."""
    import logging

    package_parent = str(Path(__file__).resolve().parents[3])
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
                     runtime_env={"env_vars": env})
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ExplorerError(f"Ray could not start{' at ' + address if address else ''}: {exc}") from None
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # ours is the one progress bar
    for name in ("ray", "ray.data"):  # Ray's INFO lines would break the CLI's one-line output
        logging.getLogger(name).setLevel(logging.ERROR)
