"""One traced graph per loaded model; every extractor is cut from it.

`model_graph(model)` traces a LoadedModel once (torchvision's NodePathTracer, so layer names
match `create_feature_extractor`), propagates shapes and receptive fields, and keeps the result
on the LoadedModel. Extractors are made torchvision's way, without tracing again: copy the graph,
make the requested nodes its output, eliminate dead code. Each extractor owns copies of the
modules it keeps, so moving it to a GPU never touches the model.

Locking is internal (see guard.py): forward passes of different jobs run at the same time; only
the one trace per model excludes them. Callers never take a lock.

Models fx cannot trace fall back to forward hooks; `trace_error` keeps the reason.
"""

from __future__ import annotations

import copy
import threading
from typing import TYPE_CHECKING, Sequence

import torch
from torch import fx, nn

from . import rf
from ..errors import ExplorerError
from .extract import LOGITS, Extractor, HookExtractor, fold_batch_norms, keep_returned_values
from .guard import TRACE_GUARD
from .layers import LayerGraph, LayerInfo, mark_passthrough

if TYPE_CHECKING:
    from .zoo import LoadedModel

_BUILDING = threading.Lock()  # one graph build at a time, so a model is never traced twice


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


def _trace(module: nn.Module) -> tuple[fx.GraphModule, dict[str, fx.Node]]:
    """The eval-mode graph (sharing the model's modules) and its nodes by torchvision name."""
    from torchvision.models.feature_extraction import NodePathTracer

    tracer = NodePathTracer(**_tracer_kwargs())
    with TRACE_GUARD.trace():
        graph = tracer.trace(module.eval())
    gm = fx.GraphModule(tracer.root, graph, module.__class__.__name__)
    return gm, {tracer.node_to_qualname[n]: n for n in graph.nodes if n in tracer.node_to_qualname}


def _reason(exc: Exception) -> str:
    lines = [l.strip() for l in str(exc).strip().splitlines() if l.strip()]
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return text if len(text) <= 200 else text[:197] + "..."


class ModelGraph(LayerGraph):
    """A model's selectable layers (shapes, receptive fields) and the one graph extractors come from.

    `graph_module` shares its modules with the model: read it, never move or modify it.
    """

    def __init__(self, module: nn.Module, input_size: int, layers: list[LayerInfo], *,
                 graph_module: fx.GraphModule | None = None, nodes: dict[str, fx.Node] | None = None,
                 trace_error: str | None = None):
        super().__init__(mark_passthrough(module, layers), input_size, traced=graph_module is not None)
        self.module = module
        self.graph_module = graph_module
        self.trace_error = trace_error  # why fx could not trace the model (hooks are used instead)
        self._nodes = nodes or {}

    @classmethod
    def build(cls, module: nn.Module, input_size: int) -> "ModelGraph":
        """Trace `module` once, propagate shapes at `input_size` and receptive fields."""
        module = module.eval()
        try:
            gm, nodes = _trace(module)
        except Exception as exc:
            return cls(module, input_size, _hooked_layers(module, input_size), trace_error=_reason(exc))
        from torch.fx.passes.shape_prop import ShapeProp

        x = torch.zeros(1, 3, input_size, input_size)
        with torch.no_grad(), TRACE_GUARD.forward():
            try:  # a plain pass first: ShapeProp prints a traceback of its own before it raises
                gm(x)
            except RuntimeError as exc:  # e.g. a pooling window larger than the map of a small input
                raise ExplorerError(f"the model cannot run on a {input_size}x{input_size} input "
                                    f"({_reason(exc)}); choose a larger --image-size.") from None
            ShapeProp(gm).propagate(x)
        fields = rf.propagate(gm)
        layers = []
        for name, node in nodes.items():
            if node.op in ("placeholder", "output", "get_attr"):
                continue
            meta = node.meta.get("tensor_meta")
            if not hasattr(meta, "shape") or len(meta.shape) not in (2, 4) or meta.shape[0] != 1:
                continue
            field = fields.get(node)
            field = field if isinstance(field, rf.Field) and len(meta.shape) == 4 else None
            layers.append(LayerInfo(name, tuple(int(s) for s in meta.shape[1:]),
                                    field.size if field else None, field.jump if field else None, field))
        return cls(module, input_size, layers, graph_module=gm, nodes=nodes)

    # --- extractors ------------------------------------------------------------------------------

    def extractor(self, layers: Sequence[str], *, logits: bool = False, fold_bn: bool = True) -> nn.Module:
        """Images (B, 3, H, W) -> {layer: tensor, ..., "logits": (B, classes)} in one forward pass.

        Pruned after the last output; owns copies of the modules it keeps (the model is never
        moved or changed); eval-mode batch norms folded into convolutions when `fold_bn`
        (same values, ~50% faster on the CPU). Run it under `torch.inference_mode()`.
        """
        return self._cut(layers, logits=logits, fold_bn=fold_bn)

    def gradient_model(self, layers: Sequence[str], *, fold_bn: bool = False) -> nn.Module:
        """Like `extractor(layers, logits=True)` but for autograd (Grad-CAM, ...); unfolded unless
        `fold_bn` (the same function of the input, faster: right for input gradients).

        Autograd records the pass from the input on (the copied weights are frozen), so
        `torch.autograd.grad(out["logits"][:, c].sum(), out[layer])` works on any input.
        Call it outside `inference_mode`/`no_grad`.
        """
        return self._cut(layers, logits=True, fold_bn=fold_bn, gradients=True)

    def _cut(self, layers: Sequence[str], *, logits: bool, fold_bn: bool, gradients: bool = False) -> nn.Module:
        layers = list(dict.fromkeys([layers] if isinstance(layers, str) else layers))
        if not layers and not logits:
            raise ExplorerError("An extractor needs at least one layer or the logits.")
        if LOGITS in layers:
            raise ExplorerError(f"{LOGITS!r} is reserved for the model's output; pass logits=True.")
        if not self.traced:
            known = {n for n, _ in self.module.named_modules() if n}
            for name in layers:
                if name not in known:
                    self[name]  # raises with suggestions
                    raise ExplorerError(f"Cannot extract layer {name!r} from {type(self.module).__name__}.")
            model = copy.deepcopy(self.module).eval()
            model.requires_grad_(False)
            return HookExtractor(model, layers, logits=logits, gradients=gradients)
        outputs = {name: self._node(name) for name in layers}
        if logits:
            outputs[LOGITS] = self._logits_node()
        graph = fx.Graph()
        remap: dict[fx.Node, fx.Node] = {}
        graph.graph_copy(self.graph_module.graph, remap)
        graph.output({key: remap[node] for key, node in outputs.items()})
        fx.GraphModule(self.graph_module, graph)  # owns the copy for a moment: dead-code purity checks
        graph.eliminate_dead_code()
        memo: dict = {}  # one memo: weights tied inside the model stay tied in the copy
        root = {n.target: copy.deepcopy(self.graph_module.get_submodule(n.target) if n.op == "call_module"
                                        else _attr(self.graph_module, n.target), memo)
                for n in graph.nodes if n.op in ("call_module", "get_attr")}
        gm = fx.GraphModule(root, graph, type(self.module).__name__)
        keep_returned_values(gm)
        if fold_bn:
            fold_batch_norms(gm)
        gm.eval().requires_grad_(False)
        return Extractor(gm, tuple(outputs), gradients=gradients)

    def _node(self, name: str) -> fx.Node:
        if name in self._nodes:
            return self._nodes[name]
        inside = [n for q, n in self._nodes.items() if q.startswith(name + ".")]  # a module: its last node
        if inside:
            return inside[-1]
        self[name]  # raises with suggestions
        raise ExplorerError(f"Cannot extract layer {name!r} from {type(self.module).__name__}.")

    def _logits_node(self) -> fx.Node:
        output = next(n for n in self.graph_module.graph.nodes if n.op == "output")
        value = output.args[0]
        if not isinstance(value, fx.Node):
            raise ExplorerError(f"{type(self.module).__name__} does not return one tensor, so it has no logits "
                                "to extract.")
        return value


def _attr(gm: nn.Module, target: str):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _hooked_layers(module: nn.Module, input_size: int) -> list[LayerInfo]:
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
        with torch.no_grad(), TRACE_GUARD.forward():
            module(torch.zeros(1, 3, input_size, input_size))
    finally:
        for h in handles:
            h.remove()
    if not shapes:
        raise ExplorerError(f"{type(module).__name__} exposes no layer with a tensor output.")
    # Receptive fields need the graph; without it they are unknown (None), never guessed.
    return [LayerInfo(n, s, None, None) for n, s in shapes.items()]


def model_graph(model: LoadedModel) -> ModelGraph:
    """The graph of `model` at its input size: traced on first use, then kept on the LoadedModel."""
    size = model.preprocess.crop
    with _BUILDING:
        graph = model.__dict__.get("_model_graph")
        if graph is None or graph.module is not model.module or graph.input_size != size:
            try:
                graph = ModelGraph.build(model.module, size)
            except ExplorerError as exc:
                raise ExplorerError(f"{model.name}: {exc}") from None
            model.__dict__["_model_graph"] = graph
    return graph
