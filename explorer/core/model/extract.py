"""Extractor modules: what `ModelGraph.extractor` and `gradient_model` hand out.

Both own their modules (copies), so `.to(device)` moves only them, and both take the trace
guard for every forward pass themselves.
"""

from __future__ import annotations

import inspect

import torch
from torch import fx, nn

from .guard import TRACE_GUARD

LOGITS = "logits"  # the key of the model's final output in an extractor's result


def _for_gradients(x: torch.Tensor) -> torch.Tensor:
    """The copied weights are frozen, so autograd records the pass from the input on."""
    if not torch.is_grad_enabled() or torch.is_inference_mode_enabled():
        raise RuntimeError("A gradient model needs autograd: call it outside torch.no_grad() and "
                           "torch.inference_mode() (or use ModelGraph.extractor for plain values).")
    return x if x.requires_grad else x.detach().requires_grad_()


class Extractor(nn.Module):
    """Images (B, 3, H, W) -> {name: tensor}: a pruned copy of the model's traced graph."""

    def __init__(self, graph_module: fx.GraphModule, outputs: tuple[str, ...], *, gradients: bool = False):
        super().__init__()
        self.graph_module = graph_module
        self.outputs = outputs  # the keys of the result, in order
        self.gradients = gradients

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.gradients:
            x = _for_gradients(x)
        with TRACE_GUARD.forward():
            return dict(self.graph_module(x))


class OneOutput(nn.Module):
    """An extractor reduced to one of its outputs: images -> tensor."""

    def __init__(self, extractor: nn.Module, key: str):
        super().__init__()
        self.extractor = extractor
        self.key = key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.extractor(x)[self.key]


class _Stop(Exception):
    pass


class HookExtractor(nn.Module):
    """For models fx cannot trace: forward hooks on a private copy; stops once the layers ran."""

    def __init__(self, model: nn.Module, layers: list[str], *, logits: bool, gradients: bool = False):
        super().__init__()
        for m in model.modules():  # a later in-place op must not overwrite a captured output
            if getattr(m, "inplace", None) is True:
                m.inplace = False
        self.model = model
        self.layers = tuple(layers)
        self.logits = logits
        self.gradients = gradients
        self.outputs = self.layers + ((LOGITS,) if logits else ())

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.gradients:
            x = _for_gradients(x)
        modules = dict(self.model.named_modules())
        captured: dict[str, torch.Tensor] = {}

        def hook(name):
            def capture(_m, _i, out):
                captured.setdefault(name, out)
                if not self.logits and len(captured) == len(self.layers):
                    raise _Stop
            return capture

        handles = [modules[name].register_forward_hook(hook(name)) for name in self.layers]
        out = None
        try:
            with TRACE_GUARD.forward():
                out = self.model(x)
        except _Stop:
            pass
        finally:
            for h in handles:
                h.remove()
        result = {name: captured[name] for name in self.layers}
        if self.logits:
            result[LOGITS] = out
        return result


def _inplace_index(fn) -> int | None:
    try:
        return list(inspect.signature(fn).parameters).index("inplace")
    except (TypeError, ValueError):
        return None


def keep_returned_values(gm: fx.GraphModule) -> None:
    """Several outputs in one pass: an in-place op after a returned node (ReLU(inplace=True)
    after a residual add) would overwrite the returned tensor. Switch such ops to out-of-place
    (their modules are the extractor's own copies), so values and gradients are the node's own.
    An in-place tensor method (x.relu_()) on a returned node gets a clone of the node instead.
    """
    output = next(n for n in gm.graph.nodes if n.op == "output")
    returned = set(output.all_input_nodes)
    changed = False
    for node in list(gm.graph.nodes):
        if not returned.intersection(node.all_input_nodes):
            continue
        if node.op == "call_module":
            m = gm.get_submodule(node.target)
            if getattr(m, "inplace", None) is True:
                m.inplace = False
        elif node.op == "call_function":
            i = _inplace_index(node.target)
            if node.kwargs.get("inplace") is True:
                node.kwargs = {**node.kwargs, "inplace": False}
            elif i is not None and len(node.args) > i and node.args[i] is True:
                node.args = node.args[:i] + (False,) + node.args[i + 1:]
        elif node.op == "call_method" and node.target.endswith("_") and not node.target.endswith("__"):
            target = node.args[0]
            if target in returned:
                with gm.graph.inserting_after(target):
                    clone = gm.graph.call_method("clone", (target,))
                output.replace_input_with(target, clone)
                returned.discard(target)
                changed = True
    if changed:
        gm.graph.lint()
    gm.recompile()


def _set_module(gm: nn.Module, target: str, new: nn.Module) -> None:
    *parents, name = target.split(".")
    holder = gm
    for p in parents:
        holder = getattr(holder, p)
    setattr(holder, name, new)


def fold_batch_norms(gm: fx.GraphModule) -> int:
    """Fold eval-mode batch norms into the convolution before them (the embedding path only).

    Inference gets ~25% faster on the CPU (a channels-last batch norm is as slow as the conv).
    The returned layers' values do not change; a conv whose raw output is returned is left
    alone. Folded convs are new modules installed in `gm`, whose modules are the extractor's
    own copies: the model itself is never modified.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    modules = dict(gm.named_modules())
    output = next(n for n in gm.graph.nodes if n.op == "output")
    returned = set(output.all_input_nodes)
    calls: dict[str, int] = {}  # a module called from two places must stay as it is
    for n in gm.graph.nodes:
        if n.op == "call_module":
            calls[n.target] = calls.get(n.target, 0) + 1
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
                or conv.padding_mode != "zeros" or len(node.args) != 1 or node.kwargs \
                or calls[prev.target] != 1 or calls[node.target] != 1:
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
        gm.delete_all_unused_submodules()  # the folded batch norms' tensors
        gm.recompile()
    return folded
