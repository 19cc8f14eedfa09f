"""From names to a finished run: list the dataset, load the model, embed one layer.

The CLI and the app both call `embed_request`, so the whole chain (and its
progress and cancellation) is the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from .data.datasets import Dataset, scan_dataset
from .engine.embedding import EmbedResult, embed_dataset
from .model.layers import LayerGraph, list_layers
from .model.zoo import LoadedModel, load_model
from .progress import Step, Work
from .run.requests import EmbedRequest, remember

__all__ = ["EmbedRequest", "Prepared", "prepare", "embed_request"]


@dataclass
class Prepared:
    dataset: Dataset
    model: LoadedModel
    graph: LayerGraph


def prepare(request: EmbedRequest, dataset: Dataset | None = None) -> Work[Prepared]:
    """List the dataset (unless the caller already did) and load the model with its layer graph."""
    if dataset is None:
        dataset = yield from scan_dataset(request.dataset)
    yield Step(0, None, f"loading {request.model}")
    model = load_model(request.model, request.weights, image_size=request.image_size)
    yield Step(0, None, f"tracing {request.model}")
    graph = list_layers(model.module, model.preprocess.crop)
    return Prepared(dataset, model, graph)


def embed_request(request: EmbedRequest, prepared: Prepared | None = None) -> Work[EmbedResult]:
    """The whole chain; yields Steps, returns the EmbedResult (resumed or reused when possible)."""
    if prepared is None:
        prepared = yield from prepare(request)
    result = yield from embed_dataset(
        prepared.dataset, prepared.model, request.layer, out=request.out, device=request.device,
        batch_size=request.batch_size, workers=request.workers, overwrite=request.overwrite,
        graph=prepared.graph)
    if request.out is None and result.run.complete:
        remember(request, prepared.dataset.fingerprint(), result.run.key)
    return result
