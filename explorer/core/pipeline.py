"""From names to a map, written once for the CLI and the app: list, look in the cache, prepare, embed, project.

    opened = yield from open_or_embed(request)             # a finished cached run costs a listing
    layout = yield from project_layout(opened.run, "tsne")  # the saved map, or PCA, then t-SNE

Each step is a generator of Steps, so progress and cancellation are the same everywhere:
the CLI drives them under tqdm, the app in its job lanes.

The engine, the zoo and the graph (torch, timm) are imported only when a model is needed: a
finished cached run and its saved map open without importing torch (a warm start of the app
draws its map in about 2 s instead of waiting 1-2 s more for torch to import).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import numpy as np

from .analysis.kept_projections import load_projection, project_run
from .analysis.projection import METHODS
from .data.datasets import Dataset, scan_dataset
from .errors import ExplorerError
from .progress import Step, Work, map_partials
from .run.arrays import default_arrays
from .run.export import map_name
from .run.requests import EmbedRequest, find_finished, list_once, remember
from .run.store import Run

if TYPE_CHECKING:  # torch comes with these: imported where a model is really loaded
    from .engine.embedding import EmbedResult
    from .model.graph import ModelGraph
    from .model.zoo import LoadedModel

__all__ = ["EmbedRequest", "Prepared", "Opened", "Layout", "prepare", "embed_request", "open_or_embed",
           "describe_model", "project_layout"]


@dataclass
class Prepared:
    """A listed dataset and a loaded model with its layer graph: what embedding needs."""

    dataset: Dataset
    model: LoadedModel
    graph: ModelGraph  # traced once; layers, receptive fields, extractors


@dataclass
class Reopened:
    """An EmbedResult's fields for a finished cached run, reopened without the engine (nor torch)."""

    run: Run
    computed: int = 0
    reused: bool = True
    seconds: float = 0.0
    device: str = "cache"
    note: str = ""


@dataclass
class Opened:
    """The run for a request, reopened or (re)computed."""

    result: Union[EmbedResult, Reopened]  # computed rows, reused, seconds, device ("cache": nothing loaded)
    prepared: Prepared | None  # None: a finished cached run reopened without loading the model

    @property
    def run(self) -> Run:
        return self.result.run

    @property
    def device(self) -> str:
        return self.result.device


@dataclass(frozen=True)
class Layout:
    """A 2-D map of a run: xy (n, 2) float32, NaN for rows without features."""

    xy: np.ndarray
    method: str  # "pca" | "tsne" | "umap"; steps of a running t-SNE carry "tsne-partial"
    note: str = ""  # what the viewer should be told, e.g. "t-SNE fitted on 50,000 of 1,000,000 points; the rest placed"


def prepare(request: EmbedRequest, dataset: Dataset | None = None) -> Work[Prepared]:
    """List the dataset (unless the caller already did) and load the model with its layer graph."""
    from .model.graph import model_graph
    from .model.zoo import load_model

    if dataset is None:
        dataset = yield from scan_dataset(request.dataset)
    yield Step(0, None, f"loading {request.model}")
    model = load_model(request.model, request.weights, image_size=request.image_size)
    yield Step(0, None, f"tracing {request.model}")
    graph = model_graph(model)
    return Prepared(dataset, model, graph)


def embed_request(request: EmbedRequest, prepared: Prepared | None = None) -> Work[EmbedResult]:
    """Embed (or resume, or reuse) the request's run with a prepared model; yields Steps."""
    from .engine.embedding import embed_dataset

    if prepared is None:
        prepared = yield from prepare(request)
    result = yield from embed_dataset(
        prepared.dataset, prepared.model, request.layer, out=request.out, device=request.device,
        batch_size=request.batch_size, workers=request.workers, overwrite=request.overwrite,
        graph=prepared.graph, verify=request.verify, decode=request.decode, engine=request.engine,
        engine_options={"address": request.ray_address, "gpus_per_worker": request.gpus_per_worker},
        arrays=None if request.predictions else default_arrays())  # None: with the predictions
    if request.out is None and result.run.complete:
        remember(request, prepared.dataset.fingerprint(), result.run.key)
    return result


def open_or_embed(request: EmbedRequest, prepared: Prepared | None = None) -> Work[Opened]:
    """The request's run: a finished cached run is reopened without loading the model; otherwise
    the model is loaded (unless `prepared`, from an earlier call on the same dataset and model, is
    given) and the run embedded, resumed, or reused.

    Yields Steps; once the model is loaded, one Step carries the Prepared as its `partial`, so a
    viewer can show the model while embedding runs.
    """
    yield Step(0, None, "looking in the cache")
    if prepared is None:
        listed = yield from list_once(request)  # one listing serves the lookup and the embedding
        finished = find_finished(request, listed)
        if finished is not None:
            return Opened(Reopened(finished), None)
        prepared = yield from prepare(request, listed)
        yield Step(0, None, f"{prepared.model.name} loaded", partial=prepared)
    result = yield from embed_request(request, prepared)
    return Opened(result, prepared)


def describe_model(request: EmbedRequest) -> Work[tuple[Prepared, str]]:
    """The model behind a reopened run and the device it would run on, for a viewer to show."""
    from .engine.embedding import resolve_device

    prepared = yield from prepare(request)
    return prepared, str(resolve_device(request.device))


def project_layout(run: Run, method: str = "tsne", *, perplexity: float = 30.0, seed: int = 0) -> Work[Layout]:
    """The run's map for these settings: read back when saved, else computed and saved.

    t-SNE and UMAP start from the PCA map, which is yielded first as a `partial` (something sensible
    to show), followed by the t-SNE's own frames ("tsne-partial") while it optimises.
    """
    from .analysis.kept_projections import fit_run, kept_note
    from .analysis.umap_projection import UMAP_MISSING, umap_available

    if method not in METHODS:
        raise ExplorerError(f"Unknown projection {method!r}; choose one of {', '.join(METHODS)}.")
    if method != "pca":
        saved = load_projection(run, method, perplexity=perplexity, seed=seed)
        if saved is not None:
            return Layout(saved, method, kept_note(run, method, perplexity=perplexity, seed=seed))
        if method == "umap" and not umap_available():
            raise ExplorerError(UMAP_MISSING)
    pca = load_projection(run, "pca", seed=seed)
    if pca is None:
        pca = yield from project_run(run, "pca", seed=seed)
    if method == "pca":
        return Layout(pca, "pca")
    yield Step(0, None, map_name(method), partial=Layout(pca, "pca"))
    layout, projection = yield from map_partials(fit_run(run, method, perplexity=perplexity, seed=seed),
                                                 lambda frame: Layout(frame, f"{method}-partial"))
    return Layout(layout, method, projection.note_ or "")
