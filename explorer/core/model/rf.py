"""Receptive-field arithmetic over a shape-propagated torch.fx graph.

Per spatial axis a unit's window is described by jump j, size r and the centre
`start` of unit 0 (input pixel index coordinates). A conv/pool with kernel k,
stride s, padding p, dilation d maps (j, r, start) to
    (j*s,  r + (k_eff-1)*j,  start + ((k_eff-1)/2 - p)*j),   k_eff = d*(k-1)+1.
Padding ops shift `start`; merges take the union of windows; anything pooled to
1x1 (or flattened) becomes GLOBAL.
"""

from __future__ import annotations

import math

import torch
from torch import fx, nn
from torch.nn import functional as F

from .field import GLOBAL, Field  # noqa: F401  (re-exported: rf.Field, rf.GLOBAL)


INPUT = Field((1.0, 1.0), (1.0, 1.0), (0.0, 0.0))


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _union(fields: list[Field]) -> Field:
    if len(fields) == 1:
        return fields[0]
    j, r, start = [], [], []
    for a in (0, 1):
        lo = min(f.start[a] - (f.r[a] - 1) / 2 for f in fields)
        hi = max(f.start[a] + (f.r[a] - 1) / 2 for f in fields)
        j.append(max(f.j[a] for f in fields))
        r.append(hi - lo + 1)
        start.append((lo + hi) / 2)
    return Field(tuple(j), tuple(r), tuple(start))


def _spatial(node) -> tuple[int, int] | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    if hasattr(meta, "shape") and len(meta.shape) == 4:
        return int(meta.shape[2]), int(meta.shape[3])
    return None


def _same_padding(in_hw, out_hw, k, s, d):
    """TF-style 'same' padding (left/top part), as timm's *Same layers compute it."""
    pads = []
    for a in (0, 1):
        total = max((math.ceil(in_hw[a] / s[a]) - 1) * s[a] + (k[a] - 1) * d[a] + 1 - in_hw[a], 0)
        pads.append(total // 2)
    return tuple(pads)


def _arg(node: fx.Node, i: int, name: str, default):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


_CONV_FUNCS = {F.conv2d, torch.conv2d}
_POOL_FUNCS = {F.max_pool2d, torch.max_pool2d, F.avg_pool2d, getattr(torch._C._nn, "avg_pool2d", None)}
_PAD_FUNCS = {F.pad, getattr(torch._C._nn, "pad", None)}


def _module_window(m: nn.Module, in_hw, out_hw):
    """(kernel, stride, padding, dilation) of a conv- or pool-like module, or None."""
    if not hasattr(m, "kernel_size") or isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return None
    k = _pair(m.kernel_size)
    s = _pair(getattr(m, "stride", None) or m.kernel_size)
    d = _pair(getattr(m, "dilation", 1))
    pad = getattr(m, "padding", 0)
    dynamic = "same" in type(m).__name__.lower() or (
        isinstance(m, nn.Conv2d) and type(m).forward is not nn.Conv2d.forward and _pair(pad) == (0, 0))
    if pad == "same":
        p = tuple((d[a] * (k[a] - 1)) // 2 for a in (0, 1))
    elif dynamic:
        p = _same_padding(in_hw, out_hw, k, s, d)
    elif pad == "valid":
        p = (0, 0)
    else:
        p = _pair(pad)
    return k, s, p, d


def _module_transform(m: nn.Module, in_hw, out_hw):
    """Field -> Field for a leaf module; containers (e.g. Conv2dNormActivation) compose their parts."""
    window = _module_window(m, in_hw, out_hw)
    if window is not None:
        return lambda f: f.apply(*window)
    children = list(m.children())
    if isinstance(m, nn.Sequential) and children:
        parts = [_module_transform(c, in_hw, out_hw) for c in children]
        parts = [t for t in parts if t is not None]
        if parts:
            def composed(f):
                for t in parts:
                    f = t(f)
                return f
            return composed
    return None


def _transform(node: fx.Node, gm: fx.GraphModule, in_hw, out_hw):
    """Field -> Field for conv/pool nodes (modules or functions), or None."""
    if node.op == "call_module":
        return _module_transform(gm.get_submodule(node.target), in_hw, out_hw)
    window = None
    if node.op == "call_function" and node.target in _CONV_FUNCS:
        weight = node.args[1]
        w = gm.get_parameter(weight.target) if isinstance(weight, fx.Node) and weight.op == "get_attr" else None
        if w is None:
            return None
        k = tuple(int(v) for v in w.shape[2:])
        s = _pair(_arg(node, 3, "stride", 1))
        p = _arg(node, 4, "padding", 0)
        d = _pair(_arg(node, 5, "dilation", 1))
        p = (0, 0) if p == "valid" else (tuple((d[a] * (k[a] - 1)) // 2 for a in (0, 1)) if p == "same" else _pair(p))
        window = (k, s, p, d)
    elif node.op == "call_function" and node.target in _POOL_FUNCS:
        k = _pair(_arg(node, 1, "kernel_size", 1))
        stride = _arg(node, 2, "stride", None)
        s = _pair(stride if stride not in (None, [], ()) else k)
        p = _pair(_arg(node, 3, "padding", 0))
        d = _pair(_arg(node, 4, "dilation", 1)) if node.target in (F.max_pool2d, torch.max_pool2d) else (1, 1)
        window = (k, s, p, d)
    return None if window is None else (lambda f: f.apply(*window))


def _pad_shift(node: fx.Node):
    if node.op == "call_function" and node.target in _PAD_FUNCS:
        pad = list(_arg(node, 1, "pad", ()))
        left = pad[0] if len(pad) > 0 else 0
        top = pad[2] if len(pad) > 2 else 0
        return top, left
    return None


def propagate(gm: fx.GraphModule) -> dict[fx.Node, object]:
    """Field, GLOBAL or None (not a spatial tensor) for every node of a shape-propagated graph."""
    fields: dict[fx.Node, object] = {}
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            fields[node] = INPUT
            continue
        if node.op in ("get_attr", "output"):
            continue
        inputs = [fields.get(a) for a in node.all_input_nodes]
        local = [f for f in inputs if isinstance(f, Field)]
        any_global = any(f == GLOBAL for f in inputs)
        meta = node.meta.get("tensor_meta")
        if not hasattr(meta, "shape"):  # tuples, sizes: carry the field for a later getitem
            fields[node] = _union(local) if local else (GLOBAL if any_global else None)
            continue
        if len(meta.shape) != 4:
            fields[node] = GLOBAL if (local or any_global) else None
            continue
        if not local:
            fields[node] = GLOBAL if any_global else None
            continue
        base = _union(local)
        out_hw = _spatial(node)
        main = next((a for a in node.all_input_nodes if isinstance(fields.get(a), Field)), None)
        in_hw = _spatial(main) or out_hw
        transform = _transform(node, gm, in_hw, out_hw)
        shift = _pad_shift(node)
        if transform is not None:
            fields[node] = transform(base)
        elif shift is not None:
            top, left = shift
            fields[node] = Field(base.j, base.r, (base.start[0] - top * base.j[0], base.start[1] - left * base.j[1]))
        elif out_hw == in_hw:
            fields[node] = base  # pointwise: activations, norms, merges, channel shuffles
        elif out_hw == (1, 1):
            fields[node] = GLOBAL  # global pooling
        else:  # adaptive pooling or resizing to another grid: the pooling it amounts to
            s = tuple(max(in_hw[a] // max(out_hw[a], 1), 1) for a in (0, 1))
            k = tuple(in_hw[a] - (out_hw[a] - 1) * s[a] for a in (0, 1))
            fields[node] = base.apply(k, s, (0, 0), (1, 1))
    return fields
