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

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterable

from ..errors import ExplorerError

if TYPE_CHECKING:  # no torch at import: the app's layer picker resolves block names on the GUI thread
    from torch import nn

    from . import rf

# Modules that return their input unchanged in eval mode: the same numbers as the layer before them.
PASSTHROUGH_TYPES = frozenset({"Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                               "FeatureAlphaDropout", "DropPath", "DropBlock2d"})


@dataclass(frozen=True)
class LayerInfo:
    name: str
    shape: tuple[int, ...]  # per image: (C, H, W) or (C,)
    receptive_field: int | None  # pixels; None once the map is pooled away
    stride: int | None  # input pixels between neighbouring units
    field: rf.Field | None = None  # per-axis details, for mapping units to input boxes
    passthrough: bool = False  # an identity in eval mode (nn.Identity, dropout, drop-path): same as its input

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
        """The layer called `name`, or the output of the block called `name` (see `resolve`)."""
        name = self.resolve(name)
        return next(layer for layer in self.layers if layer.name == name)

    def resolve(self, name: str) -> str:
        """A layer name, or a block name (`layer3`, `inception4e`, `blocks.5`) turned into the block's
        output node, as torchvision's create_feature_extractor does; ExplorerError with suggestions."""
        return resolve_layer([l.name for l in self.layers], name)

    @property
    def blocks(self) -> dict[str, str]:
        """Every block name -> its output layer (the last layer inside it)."""
        return block_outputs(l.name for l in self.layers)

    @property
    def default(self) -> str:
        """The last layer that still has a spatial map (else the last pooled one): the recommended layer."""
        return default_layer(self.layers)


def default_layer(layers) -> str:
    """The last layer (of LayerInfo-like objects with .name and .shape) that still has a spatial map
    larger than 1x1, else the last one: the map's default and the picker's recommended layer."""
    spatial = [l for l in layers if len(l.shape) == 3 and tuple(l.shape[1:3]) != (1, 1)]
    return (spatial or list(layers))[-1].name


def block_outputs(names: Iterable[str]) -> dict[str, str]:
    """{block: output layer} for every dotted prefix of the layer names, in graph order.

    torchvision's rule: a module name given to create_feature_extractor means the last node (in
    execution order) whose qualified name lies inside it, e.g. layer3 -> layer3.1.relu_1.
    """
    out: dict[str, str] = {}
    for name in names:
        parts = name.split(".")
        for depth in range(1, len(parts)):
            out[".".join(parts[:depth])] = name
    return out


def resolve_layer(names: list[str], name: str) -> str:
    """`name` itself when it is a layer, the output of the block `name`, else ExplorerError naming it."""
    name = name.strip()
    if name in names:
        return name
    blocks = block_outputs(names)
    if name in blocks:
        return blocks[name]
    import difflib

    close = difflib.get_close_matches(name, [*names, *blocks], n=4, cutoff=0.5)
    raise ExplorerError(f"No layer or block named {name!r}" + (f"; did you mean {', '.join(close)}?" if close else
                        "; 'explorer layers MODEL' lists them."))


def mark_passthrough(module: nn.Module, layers: list[LayerInfo]) -> list[LayerInfo]:
    """`layers` with `passthrough` set on the ones that are identities in eval mode (by module type)."""
    out = []
    for info in layers:
        try:
            kind = type(module.get_submodule(info.name)).__name__
        except AttributeError:  # a function node (add, cat, relu_1): not a module
            kind = None
        out.append(replace(info, passthrough=True) if kind in PASSTHROUGH_TYPES else info)
    return out


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
