"""A model ready to be explained: its traced graph, gradient models cut per layer, its CAM head.

Cuts are cached per (layers, guided): clicking through neighbours costs a forward and a backward
pass, never a new copy of the model. `randomised` names top-level units (e.g. "fc", "layer4")
whose weights every cut re-initialises, seeded per unit, for the cascading sanity check.
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import fx, nn

from ...errors import ExplorerError
from ...model.graph import model_graph
from ...model.zoo import LoadedModel
from .guided import make_guided
from .targets import Prediction, top_k

_PASS_THROUGH_MODULES = (nn.Dropout, nn.Identity, nn.Flatten)
_PASS_THROUGH_CALLS = {"flatten", "view", "reshape", "squeeze", "contiguous"}


@dataclass(frozen=True)
class CamHead:
    """A global-average-pooling + one-linear head: CAM applies at `layer` with `linear`'s weights."""

    layer: str  # the last spatial layer, whose channels the head averages
    linear: str  # the Linear module's path


class Explainer:
    def __init__(self, loaded: LoadedModel, *, randomised: Sequence[str] = (), device: str = "cpu"):
        self.loaded = loaded
        self.graph = model_graph(loaded)
        self.preprocess = loaded.preprocess
        self.categories = loaded.categories
        self.randomised = tuple(randomised)
        self.device = torch.device(device)
        self._cuts: dict = {}
        self._lock = threading.Lock()

    @property
    def input_size(self) -> int:
        return self.preprocess.crop

    def inputs(self, image: Image.Image) -> torch.Tensor:
        """(1, 3, H, W) float32, normalised, on the device."""
        return self.preprocess(image.convert("RGB"))[None].to(self.device)

    def cut(self, layers: Sequence[str] = (), *, guided: bool = False, plain: bool = False) -> nn.Module:
        """A model returning {layer..., "logits"}: for autograd, or `plain` (run it under no_grad);
        cached, randomised as asked."""
        key = (tuple(layers), guided, plain)
        with self._lock:
            module = self._cuts.get(key)
            if module is None:
                if plain:  # folding batch norms is faster, but would hide the units to randomise
                    module = self.graph.extractor(list(layers), logits=True, fold_bn=not self.randomised)
                else:
                    module = self.graph.gradient_model(list(layers))
                randomise(module, self.randomised)
                if guided:
                    make_guided(module)
                module = module.to(self.device)
                self._cuts[key] = module
        return module

    def logits(self, x: torch.Tensor, *, batch: int = 32) -> torch.Tensor:
        """(B, classes) without autograd, in batches."""
        model = self.cut((), plain=True)
        with torch.no_grad():
            return torch.cat([model(x[i:i + batch])["logits"].float() for i in range(0, len(x), batch)])

    def probabilities(self, x: torch.Tensor, target: int, *, batch: int = 32) -> torch.Tensor:
        """(B,) softmax probability of `target` for each image."""
        return torch.softmax(self.logits(x, batch=batch), 1)[:, target]

    def top5(self, x: torch.Tensor) -> tuple[np.ndarray, list[Prediction]]:
        logits = self.logits(x[:1])[0].cpu().numpy()
        return logits, top_k(logits, self.categories, 5)

    # --- layers --------------------------------------------------------------------------------
    def resolve_layer(self, layer: str | None) -> str:
        """The layer Grad-CAM uses: the one given (checked), or the last layer with a spatial map."""
        if layer:
            info = self.graph[layer]
            if len(info.shape) != 3:
                raise ExplorerError(f"{layer!r} has no spatial map (shape {tuple(info.shape)}); CAM-family "
                                    "methods need a convolutional layer.")
            return info.name
        spatial = [l for l in self.graph.layers if len(l.shape) == 3 and l.shape[1] * l.shape[2] > 1]
        if not spatial:
            raise ExplorerError(f"{self.loaded.name} has no layer with a spatial map.")
        return spatial[-1].name

    def cam_head(self) -> CamHead:
        """The GAP + linear head CAM needs, or an error saying why this model has none."""
        gm = self.graph.graph_module
        if gm is None:
            raise ExplorerError(f"CAM needs the model's graph, and {self.loaded.name} could not be traced; "
                                "use Grad-CAM (--method gradcam).")
        names = {node: name for name, node in self.graph._nodes.items()}
        output = next(n for n in gm.graph.nodes if n.op == "output")
        node = _skip(gm, output.args[0])
        if not _is(gm, node, nn.Linear):
            raise ExplorerError(f"CAM needs a head of global average pooling and one linear layer; "
                                f"{self.loaded.name} ends in {_describe(gm, node)}. Use Grad-CAM (--method "
                                "gradcam), which works at any spatial layer.")
        linear = node
        pooled = _skip(gm, linear.args[0])
        if not _is_global_average(gm, pooled):
            linears = sum(1 for n in gm.graph.nodes if _is(gm, n, nn.Linear))
            why = (f"its classifier has {linears} linear layers" if _is(gm, pooled, nn.Linear) or linears > 1
                   else f"its last linear layer reads {_describe(gm, pooled)}, not a global average pool")
            raise ExplorerError(f"CAM needs a head of global average pooling and one linear layer; for "
                                f"{self.loaded.name} {why}. Use Grad-CAM (--method gradcam), which works "
                                "at any spatial layer.")
        spatial = pooled.args[0]
        layer = names.get(spatial)
        if layer is None:
            raise ExplorerError(f"CAM: the layer before {self.loaded.name}'s pooling has no name to extract.")
        return CamHead(layer, str(linear.target))


def _is(gm: fx.GraphModule, node, kind) -> bool:
    return isinstance(node, fx.Node) and node.op == "call_module" and isinstance(gm.get_submodule(node.target), kind)


def _skip(gm: fx.GraphModule, node):
    """Back past dropout, identity and flattening, which do not change what CAM computes."""
    while isinstance(node, fx.Node):
        if node.op == "call_module" and isinstance(gm.get_submodule(node.target), _PASS_THROUGH_MODULES):
            node = node.args[0]
        elif node.op in ("call_function", "call_method") and getattr(node.target, "__name__", node.target) \
                in _PASS_THROUGH_CALLS | {"dropout"}:
            node = node.args[0]
        else:
            break
    return node


def _is_global_average(gm: fx.GraphModule, node) -> bool:
    if not isinstance(node, fx.Node):
        return False
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        size = getattr(m, "output_size", None)
        return isinstance(m, nn.AdaptiveAvgPool2d) and size in (1, (1, 1), [1, 1])
    name = getattr(node.target, "__name__", node.target)
    if name == "adaptive_avg_pool2d":
        size = node.args[1] if len(node.args) > 1 else node.kwargs.get("output_size")
        return size in (1, (1, 1), [1, 1])
    if name == "mean":
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        return tuple(sorted(dims if isinstance(dims, (tuple, list)) else [dims])) in ((2, 3), (-2, -1))
    return False


def _describe(gm: fx.GraphModule, node) -> str:
    if isinstance(node, fx.Node) and node.op == "call_module":
        return f"{type(gm.get_submodule(node.target)).__name__} ({node.target})"
    return str(getattr(node, "target", node))


# --- cascading randomisation (Adebayo et al. 2018) ----------------------------------------------

def cascade_units(loaded: LoadedModel) -> list[str]:
    """The model's parameterised units from the output down (model.heads.units, reversed)."""
    from ...model.heads import units

    return units(loaded.module)[::-1]


def randomise(module: nn.Module, units: Sequence[str]) -> None:
    """Re-initialise every parameterised submodule inside `units` (paths of the original model),
    seeded per unit so every cut of the same model gets the same random weights."""
    if not units:
        return
    for path, m in module.named_modules():
        inner = path[len("graph_module."):] if path.startswith("graph_module.") else path
        inner = inner[len("model."):] if inner.startswith("model.") else inner
        unit = next((u for u in units if inner == u or inner.startswith(u + ".")), None)
        if unit is None or not hasattr(m, "reset_parameters"):
            continue
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(zlib.crc32(inner.encode()))
            m.reset_parameters()
        m.requires_grad_(False)
