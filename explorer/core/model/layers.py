"""Selectable layers of a model: output shapes, receptive fields, and an extractor per layer.

Layers are the nodes of torchvision's feature-extraction graph (a torch.fx trace),
so any tensor inside a block (a residual add, an inception concat) can be chosen.
Models that cannot be traced fall back to module forward hooks.

Receptive fields are propagated through the whole graph, branches included: each
node carries, per spatial axis, its jump j (input pixels between neighbouring units),
its size r and the centre `start` of unit 0 in input pixel coordinates. Convs and
pools grow them; merges (add, cat, mul) take the union of their inputs' windows.
Convention: inputs that were pooled to 1x1 (squeeze-and-excitation gates) modulate
a unit but do not widen its local window, so they are left out of the union.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
from torch import fx, nn

from . import rf
from ..errors import ExplorerError


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
    """The traced model (or None for hook-based models) and its selectable layers."""
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


# torch.fx patches torch.nn.Module.__call__ for the whole process while it traces, so a forward pass
# on another thread during a trace goes through the tracer. Tracing and forward passes take this lock.
MODEL_LOCK = threading.RLock()


def _tracer_kwargs() -> dict:
    """torchvision's defaults plus timm's opaque modules, so names match create_feature_extractor."""
    from torchvision.models.feature_extraction import _set_default_tracer_kwargs

    kwargs: dict = {}
    try:  # timm keeps lists of modules/functions that must stay opaque to fx
        from timm.models._features_fx import get_notrace_functions, get_notrace_modules
        kwargs = {"leaf_modules": list(get_notrace_modules()),
                  "autowrap_functions": list(get_notrace_functions())}
    except ImportError:
        pass
    return _set_default_tracer_kwargs(kwargs)


def _trace(module: nn.Module) -> tuple[fx.GraphModule, dict[fx.Node, str]]:
    from torchvision.models.feature_extraction import NodePathTracer

    tracer = NodePathTracer(**_tracer_kwargs())
    graph = tracer.trace(module.eval())
    gm = fx.GraphModule(tracer.root, graph, module.__class__.__name__)
    names = {node: tracer.node_to_qualname[node] for node in graph.nodes if node in tracer.node_to_qualname}
    return gm, names


def list_layers(module: nn.Module, input_size: int) -> LayerGraph:
    """Every selectable layer with its output shape and receptive field."""
    module = module.eval()
    with MODEL_LOCK:
        try:
            gm, names = _trace(module)
        except Exception:
            return _hooked_layers(module, input_size)
        from torch.fx.passes.shape_prop import ShapeProp

        with torch.no_grad():
            ShapeProp(gm).propagate(torch.zeros(1, 3, input_size, input_size))
    fields = rf.propagate(gm)
    layers = []
    for node in gm.graph.nodes:
        if node.op in ("placeholder", "output", "get_attr") or node not in names:
            continue
        meta = node.meta.get("tensor_meta")
        if not hasattr(meta, "shape") or len(meta.shape) not in (2, 4) or meta.shape[0] != 1:
            continue
        field = fields.get(node)
        field = field if isinstance(field, rf.Field) and len(meta.shape) == 4 else None
        layers.append(LayerInfo(names[node], tuple(int(s) for s in meta.shape[1:]),
                                field.size if field else None, field.jump if field else None, field))
    return LayerGraph(layers, input_size, traced=True)


def _hooked_layers(module: nn.Module, input_size: int) -> LayerGraph:
    """Fallback for models fx cannot trace: every leaf module, shapes from forward hooks."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    for name, m in module.named_modules():
        if name and not any(True for _ in m.children()):
            def hook(_m, _i, out, name=name):
                if isinstance(out, torch.Tensor) and out.dim() in (2, 4) and name not in shapes:
                    shapes[name] = tuple(int(s) for s in out.shape[1:])
            handles.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad(), MODEL_LOCK:
            module(torch.zeros(1, 3, input_size, input_size))
    finally:
        for h in handles:
            h.remove()
    if not shapes:
        raise ExplorerError(f"{type(module).__name__} exposes no layer with a tensor output.")
    # Receptive fields need the graph; without it they are unknown (None), never guessed.
    return LayerGraph([LayerInfo(n, s, None, None) for n, s in shapes.items()], input_size, traced=False)


class _Tap(nn.Module):
    """Runs the model up to one layer and returns that layer's output tensor."""

    def __init__(self, extractor: nn.Module, key: str):
        super().__init__()
        self.extractor = extractor
        self.key = key

    def forward(self, x):
        return self.extractor(x)[self.key]


class _Stop(Exception):
    pass


class _HookTap(nn.Module):
    """Hook-based tap for untraceable models: stops the forward pass once the layer ran."""

    def __init__(self, module: nn.Module, layer: str):
        super().__init__()
        self.model = module
        self.layer = dict(module.named_modules())[layer]

    def forward(self, x):
        captured = []

        def hook(_m, _i, out):
            captured.append(out)
            raise _Stop

        handle = self.layer.register_forward_hook(hook)
        try:
            self.model(x)
        except _Stop:
            pass
        finally:
            handle.remove()
        return captured[0]


def make_extractor(module: nn.Module, layer: str, graph: LayerGraph | None = None) -> nn.Module:
    """A module mapping images (B, 3, H, W) to the layer's output, pruned after the layer."""
    if graph is not None and not graph.traced:
        return _HookTap(module.eval(), layer)
    from torchvision.models.feature_extraction import create_feature_extractor

    try:
        with MODEL_LOCK:
            extractor = create_feature_extractor(module.eval(), return_nodes={layer: "out"},
                                                 tracer_kwargs=_tracer_kwargs())
    except Exception:
        if layer in dict(module.named_modules()):
            return _HookTap(module.eval(), layer)
        raise ExplorerError(f"Cannot extract layer {layer!r} from {type(module).__name__}.") from None
    fold_batch_norms(extractor)
    return _Tap(extractor.eval(), "out")


def _set_module(gm: nn.Module, target: str, new: nn.Module) -> None:
    *parents, name = target.split(".")
    holder = gm
    for p in parents:
        holder = getattr(holder, p)
    setattr(holder, name, new)


def fold_batch_norms(gm: fx.GraphModule) -> int:
    """Fold eval-mode batch norms into the convolution before them, in the extractor only.

    Inference gets ~25% faster on the CPU (a channels-last batch norm is as slow as the conv).
    The returned layer's values do not change; a conv whose raw output is the returned layer is
    left alone. The extractor's graph shares leaf modules with the model, so folded convs are
    new modules installed in the extractor: the model itself is never modified.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    modules = dict(gm.named_modules())
    output = next(n for n in gm.graph.nodes if n.op == "output")
    returned = set(output.all_input_nodes)
    folded = 0
    for node in list(gm.graph.nodes):
        bn = modules.get(node.target) if node.op == "call_module" else None
        if not isinstance(bn, nn.BatchNorm2d) or bn.training or bn.running_mean is None:
            continue
        plain = type(bn) is nn.BatchNorm2d
        with_act = not plain and hasattr(bn, "act") and hasattr(bn, "drop")  # timm's BatchNormAct2d
        prev = node.args[0] if node.args else None
        conv = modules.get(prev.target) if isinstance(prev, fx.Node) and prev.op == "call_module" else None
        if not (plain or with_act) or type(conv) is not nn.Conv2d or len(prev.users) != 1 or prev in returned \
                or conv.padding_mode != "zeros" or len(node.args) != 1 or node.kwargs:
            continue
        _set_module(gm, prev.target, fuse_conv_bn_eval(conv, bn))
        if plain:
            node.replace_all_uses_with(prev)
            gm.graph.erase_node(node)
        else:
            _set_module(gm, node.target, nn.Sequential(bn.drop, bn.act))
        folded += 1
    if folded:
        gm.graph.lint()
        gm.recompile()
    return folded

