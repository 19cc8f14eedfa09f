"""What the user asked for, and a small index from such requests to finished runs in the cache.

The run key needs the model's weights id and preprocessing, i.e. a loaded model
(seconds). The index maps the request itself to the key, so reopening the same
dataset, model and layer costs a folder listing and a file read. No torch here.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..data.datasets import Dataset, scan_dataset
from ..data.sources import image_source, is_demo
from ..errors import RunFolderError
from ..model.zoo import DEFAULT_MODEL
from ..progress import Work, run_to_end
from .cache import cache_path, cache_root
from .files import write_atomic
from .store import Run, load_run


@dataclass
class EmbedRequest:
    dataset: str
    model: str = DEFAULT_MODEL
    weights: str | None = None  # None: pretrained/bundled; "random"; or a file path
    layer: str | tuple[str, ...] | None = None  # None: the model's default; several: filled in one pass
    image_size: int | None = None
    out: str | None = None  # None: the cache
    device: str = "auto"
    batch_size: int | None = 64  # None: interactive (small CPU batches, see embedding.interactive_batch)
    workers: int | None = None
    overwrite: bool = False
    verify: bool = False  # read every file again; recompute rows whose content changed
    predictions: bool = True  # keep the classifier's predictions (an early layer then runs the whole network)
    decode: str = "auto"  # where JPEGs are decoded: auto (the GPU when embedding on CUDA), cpu or gpu
    engine: str = "local"  # or "ray": Ray Data (engine.ray_engine)
    ray_address: str | None = None  # None: a local Ray instance, started and stopped
    gpus_per_worker: float = 0


def _index_path() -> Path:
    return cache_root() / "requests.json"


def _request_id(request: EmbedRequest, dataset_fingerprint: str) -> str:
    weights = request.weights
    if weights not in (None, "random"):
        try:
            st = os.stat(weights)
            weights = f"file:{os.path.abspath(weights)}:{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            weights = f"missing:{weights}"
    parts = [dataset_fingerprint, request.model, weights, request.layer, request.image_size]
    if request.decode != "auto":  # asked for by name: only a run decoded that way will do
        parts.append(request.decode)
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _read_index() -> dict:
    try:
        data = json.loads(_index_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def remember(request: EmbedRequest, dataset_fingerprint: str, key: str) -> None:
    index = _read_index()
    index[_request_id(request, dataset_fingerprint)] = key
    if len(index) > 500:
        index = dict(list(index.items())[-500:])
    try:
        _index_path().parent.mkdir(parents=True, exist_ok=True)
        write_atomic(_index_path(), json.dumps(index))
    except OSError:
        pass  # the index only saves time


def list_once(request: EmbedRequest) -> Work[Dataset | None]:
    """A folder listed once for both the cache lookup and the embedding (demos need no listing)."""
    if is_demo(request.dataset):
        return None
    return (yield from scan_dataset(request.dataset))


def find_finished(request: EmbedRequest, dataset: Dataset | None = None) -> Run | None:
    """The complete cached run for exactly this request, if there is one (no model loaded).

    `dataset`: the folder already listed by the caller, so it is not listed twice.
    """
    if request.out is not None or request.verify or request.overwrite:  # the embedding decides
        return None
    spec = request.dataset
    if dataset is not None:
        fingerprint = dataset.fingerprint()
    elif is_demo(spec):
        fingerprint = image_source(spec).known_fingerprint()
    else:
        try:
            dataset = run_to_end(scan_dataset(spec))
            fingerprint = dataset.fingerprint()
        except Exception:
            return None
    key = _read_index().get(_request_id(request, fingerprint)) if fingerprint else None
    if not key:
        return None
    try:
        run = load_run(cache_path(key))
    except RunFolderError:
        return None
    if dataset is not None and len(dataset) == len(run):
        if len(run.changed_rows(dataset.signatures())):
            return None  # a file was replaced in place: the embedding recomputes its row
    return run if run.key == key and run.complete else None
