"""Which layer separates my classes? Several block outputs from one pass over (a sample of) a dataset,
then a probe per layer and classifier.

    run, results = yield from probe_dataset("photos/", "resnet18", blocks=True, sample=2000)
    [(r.layer, r.classifier, r.accuracy) for r in results]   # accuracy vs depth

The embedding is an ordinary multi-layer run in the cache (features only), so asking again costs
a file read, and the probes are kept in it (probe_files).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data.datasets import Dataset, scan_dataset
from ..errors import ExplorerError
from ..progress import Step, Work
from .probe import ProbeResult, probe_run, stratified_sample

MAX_BLOCKS = 16


def block_layers(graph) -> list[str]:
    """The model's main blocks (names graph.resolve turns into their output layers), in depth order: the
    top-level blocks that still have a spatial map (layer1..layer4, inception3a..); a single container
    of blocks (timm's `blocks`) is opened; a plain sequence of layers (vgg's `features`) is cut where the
    resolution changes (the last layer at each resolution)."""
    layers = [l for l in graph.layers if not l.passthrough]
    spatial = {l.name for l in layers if len(l.shape) == 3 and tuple(l.shape[1:]) != (1, 1)}
    blocks = graph.blocks
    prefix = ""
    while True:
        depth = prefix.count(".")
        level = [b for b in blocks if b.startswith(prefix) and b.count(".") == depth and blocks[b] in spatial]
        if len(level) == 1 and any(b.startswith(level[0] + ".") for b in blocks):
            prefix = level[0] + "."
            continue
        break
    chosen = list(level)  # block names; graph.resolve gives their output layers
    if len(chosen) < 3:  # no block structure to speak of: one layer per resolution
        chosen, last = [], None
        for l in layers:
            if l.name not in spatial:
                continue
            if last is not None and l.shape[1:] != last.shape[1:]:
                chosen.append(last.name)
            last = l
        if last is not None:
            chosen.append(last.name)
    order = {l.name: i for i, l in enumerate(graph.layers)}
    chosen = sorted(dict.fromkeys(chosen), key=lambda name: order[graph.resolve(name)])
    if len(chosen) > MAX_BLOCKS:  # evenly spread, the last always kept
        step = len(chosen) / MAX_BLOCKS
        chosen = [chosen[int(round((i + 1) * step)) - 1] for i in range(MAX_BLOCKS)]
    if not chosen:
        raise ExplorerError("The model has no spatial blocks to probe; name layers with --layers.")
    return chosen


@dataclass
class LayerProbe:
    """What probe_dataset made: the run (features of every layer) and one result per layer and classifier."""

    run: object
    layers: list[str]
    results: list[ProbeResult]
    blocks: dict[str, str]  # block name -> the layer it selected (for names the user gave)


class SampledDataset(Dataset):
    """Some items of a dataset, read through it (a demo's images live in memory, not in files), with a
    fingerprint of its own: a sample's run never passes for the whole dataset's."""

    def __init__(self, parent: Dataset, indices):
        self._parent, self._indices = parent, [int(i) for i in indices]
        super().__init__(parent.root, [parent.items[i] for i in self._indices], parent.skipped)

    def full_path(self, i: int) -> str:
        return self._parent.full_path(self._indices[i])

    def load(self, i: int, *, draft_size: int | None = None):
        return self._parent.load(self._indices[i], draft_size=draft_size)

    def content_digest(self, i: int) -> bytes:
        return self._parent.content_digest(self._indices[i])

    def fingerprint(self) -> str:
        import hashlib

        import numpy as np

        h = hashlib.sha256(f"sample of {self._parent.fingerprint()}:".encode())
        h.update(np.asarray(self._indices, np.int64).tobytes())
        return h.hexdigest()


def sample_dataset(dataset: Dataset, sample: int | None, seed: int = 0) -> Dataset:
    """A stratified, seeded sample of the dataset's items (itself when sample is None or larger)."""
    import numpy as np

    if sample is None or sample >= len(dataset):
        return dataset
    return SampledDataset(dataset, stratified_sample(dataset.labels, np.arange(len(dataset)), sample, seed))


def probe_dataset(spec: str, model: str, *, weights: str | None = None, layers: list[str] | None = None,
                  blocks: bool = False, classifiers=("logreg",), folds: int = 5, sample: int | None = None,
                  seed: int = 0, image_size: int | None = None, device: str = "auto", batch_size: int | None = 64,
                  workers: int | None = None) -> Work[LayerProbe]:
    """Embed (a sample of) the dataset at several layers in one pass, then probe each layer."""
    from ..engine.embedding import embed_dataset
    from ..model.graph import model_graph
    from ..model.zoo import load_model

    dataset = yield from scan_dataset(spec)
    dataset = sample_dataset(dataset, sample, seed)
    yield Step(0, None, f"loading {model}")
    loaded = load_model(model, weights, image_size=image_size)
    graph = model_graph(loaded)
    names = block_layers(graph) if blocks or not layers else list(layers)
    resolved = [graph.resolve(name) for name in names]
    chosen = {name: layer for name, layer in zip(names, resolved) if name != layer}
    resolved = list(dict.fromkeys(resolved))
    result = yield from embed_dataset(dataset, loaded, resolved, device=device, batch_size=batch_size,
                                      workers=workers, graph=graph, arrays=["features"])
    run = result.run
    # rows already sampled: probe them all (sample=None) but keep the record of the sample size
    results = yield from probe_run(run, resolved, classifiers, folds=folds, seed=seed)
    for r in results:
        r.sample = sample
    return LayerProbe(run, resolved, results, chosen)
