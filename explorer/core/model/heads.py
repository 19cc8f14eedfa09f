"""A classifier's output layer: found, replaced for other classes, and restored from a checkpoint.

The head is the last nn.Linear the model applies (ResNet's `fc`, VGG's `classifier.6`, timm's
`classifier`), found by running the model once with hooks, so it works for any architecture.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ExplorerError


def find_head(module: nn.Module, input_size: int) -> str:
    """The path of the last Linear layer a forward pass runs; an error when there is none."""
    order: list[str] = []
    handles = [m.register_forward_hook(lambda _m, _i, _o, name=name: order.append(name))
               for name, m in module.named_modules() if isinstance(m, nn.Linear)]
    try:
        with torch.no_grad():
            module.eval()(torch.zeros(1, 3, input_size, input_size))
    finally:
        for h in handles:
            h.remove()
    if not order:
        raise ExplorerError(f"{type(module).__name__} has no linear output layer to replace.")
    return order[-1]


def units(module: nn.Module) -> list[str]:
    """The model's parameterised units, input to output: top-level children, with sequences (VGG's
    `features`, ResNet's `layer4`, EfficientNet's `blocks`) opened one level. Fine-tuning unfreezes
    the last ones; the sanity check randomises them from the output down."""
    found = []
    for name, child in module.named_children():
        parts = list(child.named_children()) if isinstance(child, (nn.Sequential, nn.ModuleList)) else []
        for sub, m in (parts or [("", child)]):
            if any(True for _ in m.parameters()):
                found.append(f"{name}.{sub}" if sub else name)
    return found


def set_submodule(module: nn.Module, path: str, new: nn.Module) -> None:
    *parents, name = path.split(".")
    holder = module
    for p in parents:
        holder = getattr(holder, p)
    setattr(holder, name, new)


def replace_head(module: nn.Module, path: str, n_classes: int, *, seed: int = 0) -> nn.Linear:
    """Put a new Linear(in_features, n_classes) at `path` (seeded initialisation); returns it."""
    old = module.get_submodule(path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        new = nn.Linear(old.in_features, n_classes, bias=old.bias is not None)
    set_submodule(module, path, new)
    return new


def fit_head_to(module: nn.Module, state: dict, input_size: int) -> bool:
    """A checkpoint trained for other classes (explorer finetune): resize the head to its shape.

    Returns whether the head was replaced. Only the head's weight may differ in shape; anything
    else is left for load_state_dict to report.
    """
    path = find_head(module, input_size)
    weight = state.get(f"{path}.weight")
    head = module.get_submodule(path)
    if weight is None or tuple(weight.shape) == tuple(head.weight.shape):
        return False
    if weight.dim() != 2 or weight.shape[1] != head.in_features:
        return False
    replace_head(module, path, int(weight.shape[0]))
    return True
