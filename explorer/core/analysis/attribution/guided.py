"""Guided backprop's backward rule, installed in a gradient model's own copies of its activations.

The rule (Springenberg et al. 2015): at every rectifier the gradient flowing back is zeroed where
it is negative, on top of the activation's own derivative: dx = f'(x) * max(dy, 0). For ReLU,
ReLU6, Hardtanh and other clamp-style activations this is exactly guided backprop. SiLU, GELU,
Hardswish, Mish and ELU get the same rule (their derivative can be negative, so the map is a
generalisation, stated in the README); sigmoid gates (squeeze-excitation) keep their plain backward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import fx, nn

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.GELU, nn.Hardswish, nn.Mish)
_BY_NAME = {"ReLU", "ReLU6", "Swish", "SiLU", "GELU", "HardSwish", "Hardswish", "Mish", "HardMish"}  # timm's own


class _Guided(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, fn):
        ctx.fn = fn
        ctx.save_for_backward(x)
        return fn(x)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            xd = x.detach().requires_grad_(True)
            (dx,) = torch.autograd.grad(ctx.fn(xd), xd, dy.clamp(min=0))
        return dx, None


class _GuidedClamp(torch.autograd.Function):
    """ReLU, ReLU6, Hardtanh: f' is 1 inside (lo, hi), 0 outside, so no recomputation is needed."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        inside = x > lo if hi is None else (x > lo) & (x < hi)
        ctx.save_for_backward(inside)
        return x.clamp(min=lo, max=hi)

    @staticmethod
    def backward(ctx, dy):
        (inside,) = ctx.saved_tensors
        return dy.clamp(min=0) * inside, None, None


def _bounds(act: nn.Module):
    """(lo, hi) of a clamp-style activation, else None."""
    if type(act) is nn.ReLU:
        return 0.0, None
    if isinstance(act, nn.Hardtanh):  # ReLU6 is a Hardtanh(0, 6)
        return float(act.min_val), float(act.max_val)
    return None


class GuidedActivation(nn.Module):
    def __init__(self, act: nn.Module):
        super().__init__()
        if getattr(act, "inplace", None) is True:
            act.inplace = False
        self.act = act
        self.bounds = _bounds(act)

    def forward(self, x):
        if self.bounds is not None:
            return _GuidedClamp.apply(x, *self.bounds)
        return _Guided.apply(x, self.act)


# functional rectifiers in traced graphs (GoogLeNet's BasicConv2d calls F.relu)
def guided_relu(x, inplace=False):
    return _GuidedClamp.apply(x, 0.0, None)


def guided_relu6(x, inplace=False):
    return _GuidedClamp.apply(x, 0.0, 6.0)


def guided_hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    return _GuidedClamp.apply(x, float(min_val), float(max_val))


def guided_silu(x, inplace=False):
    return _Guided.apply(x, F.silu)


def guided_gelu(x, approximate="none"):
    return _Guided.apply(x, lambda t: F.gelu(t, approximate=approximate))


def guided_hardswish(x, inplace=False):
    return _Guided.apply(x, F.hardswish)


_FUNCTIONS = {F.relu: guided_relu, torch.relu: guided_relu, F.relu6: guided_relu6, F.hardtanh: guided_hardtanh,
              F.silu: guided_silu,
              F.gelu: guided_gelu, F.hardswish: guided_hardswish, torch.relu_: guided_relu}
_METHODS = {"relu": guided_relu, "relu_": guided_relu}


def is_activation(m: nn.Module) -> bool:
    return isinstance(m, ACTIVATIONS) or (type(m).__name__ in _BY_NAME and not any(True for _ in m.parameters()))


def make_guided(module: nn.Module) -> int:
    """Install the guided rule in `module` (a gradient model's private copy); returns how many sites."""
    sites = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if is_activation(child):
                setattr(parent, name, GuidedActivation(child))
                sites += 1
    for gm in [m for m in module.modules() if isinstance(m, fx.GraphModule)]:
        changed = 0
        for node in gm.graph.nodes:
            if node.op == "call_function" and node.target in _FUNCTIONS:
                node.target = _FUNCTIONS[node.target]
                changed += 1
            elif node.op == "call_method" and node.target in _METHODS:
                node.op, node.target = "call_function", _METHODS[node.target]
                changed += 1
        if changed:
            gm.recompile()
        sites += changed
    return sites
