"""Selectable layers of a model: output shapes and receptive fields.

Layers are the nodes of torchvision's feature-extraction graph (a torch.fx trace, made once per
model in graph.py), so any tensor inside a block (a residual add, an inception concat) can be
chosen. Models that cannot be traced fall back to module forward hooks.

Receptive fields are propagated through the whole graph, branches included: each
node carries, per spatial axis, its jump j (input pixels between neighbouring units),
its size r and the centre `start` of unit 0 in input pixel coordinates. Convs and
pools grow them; merges (add, cat, mul) take the union of their inputs' windows.
Convention: inputs that were pooled to 1x1 (squeeze-and-excitation gates) modulate
a unit but do not widen its local window, so they are left out of the union.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import rf
from ..errors import ExplorerError

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class LayerInfo:
    name: str
    shape: tuple[int, ...]  # per image: (C, H, W) or (C,)
    receptive_field: int | None  # pixels; None once the map is pooled away
    stride: int | None  # input pixels between neighbouring units
    field: rf.Field | None = None  # per-axis details, for mapping units to input boxes

    @property
    def spatial(self) -> tuple[int, int] | None:
        return tuple(self.shape[1:3]) if len(self.shape) == 3 else None

    def to_json(self) -> dict:
        return {"name": self.name, "shape": list(self.shape),
                "receptive_field": self.receptive_field, "stride": self.stride}

    def unit_box(self, y: int, x: int, input_size: int) -> tuple[int, int, int, int]:
        """[left, top, right, bottom) in input pixels of unit (y, x), clipped to the input."""
        if self.field is None:
            return (0, 0, input_size, input_size)
        return self.field.box(y, x, input_size)


@dataclass
class LayerGraph:
    """A model's selectable layers (graph.ModelGraph adds the traced graph and extractors)."""
    layers: list[LayerInfo]
    input_size: int
    traced: bool

    def __getitem__(self, name: str) -> LayerInfo:
        for layer in self.layers:
            if layer.name == name:
                return layer
        import difflib

        close = difflib.get_close_matches(name, [l.name for l in self.layers], n=4, cutoff=0.5)
        raise ExplorerError(f"No layer named {name!r}" + (f"; did you mean {', '.join(close)}?" if close else
                            "; 'explorer layers MODEL' lists them."))

    @property
    def default(self) -> str:
        """The last layer that still has a spatial map (else the last pooled one)."""
        spatial = [l for l in self.layers if l.spatial and l.spatial != (1, 1)]
        return (spatial or self.layers)[-1].name


# --- compatibility: the graph API for callers that hold a bare module ---------------------------

def list_layers(module: nn.Module, input_size: int) -> LayerGraph:
    """Every selectable layer with its output shape and receptive field (traces `module`).

    For a LoadedModel prefer `graph.model_graph(model)`, which traces once and keeps the result.
    """
    from .graph import ModelGraph

    return ModelGraph.build(module, input_size)


def make_extractor(module: nn.Module, layer: str, graph: LayerGraph | None = None) -> nn.Module:
    """A module mapping images (B, 3, H, W) to one layer's output tensor (batch norms folded).

    It owns its weights: moving it moves nothing in `module`. Prefer `ModelGraph.extractor`.
    """
    from .extract import OneOutput
    from .graph import ModelGraph

    if not (isinstance(graph, ModelGraph) and graph.module is module):
        graph = ModelGraph.build(module, graph.input_size if graph is not None else 224)
    return OneOutput(graph.extractor([layer]), layer).eval()
