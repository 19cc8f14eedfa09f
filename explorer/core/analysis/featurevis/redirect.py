"""Lucid's redirected ReLU gradient, so a channel that is silent on the starting noise can wake up.

A ReLU (or ReLU6) passes no gradient where its input is below zero, so a unit that reads 0 on every
pixel of the starting image never moves and its visualisation stays grey. Where an image's
ordinary gradient through the activation is zero everywhere, this passes the incoming gradient
on anyway, except where it would push the input further out of range (below 0, or above 6 for
ReLU6) — Lucid's `redirected_relu_grad` / `redirected_relu6_grad`. Images whose ordinary gradient
is non-zero get exactly the ordinary gradient; the forward pass is unchanged.
"""

from __future__ import annotations

import torch
from torch import nn


class _Redirected(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return x.clamp(min=lo, max=hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        lo, hi = ctx.lo, ctx.hi
        outside = x < lo if hi is None else (x < lo) | (x > hi)
        plain = torch.where(outside, torch.zeros_like(g), g)
        # the loss is minimised (x -= lr * g): g > 0 lowers x, g < 0 raises it
        wrong_way = (x < lo) & (g > 0)
        if hi is not None:
            wrong_way = wrong_way | ((x > hi) & (g < 0))
        redirected = torch.where(wrong_way, torch.zeros_like(g), g)
        alive = plain.flatten(1).norm(dim=1) > 0
        alive = alive.view(-1, *([1] * (g.dim() - 1)))
        return torch.where(alive, plain, redirected), None, None


class RedirectedClamp(nn.Module):
    def __init__(self, lo: float, hi: float | None):
        super().__init__()
        self.lo, self.hi = lo, hi

    def forward(self, x):
        return _Redirected.apply(x, self.lo, self.hi)


def redirect_relus(module: nn.Module) -> int:
    """Swap the ReLU and ReLU6 modules of `module` (a private copy) for redirected ones; returns how many."""
    swapped = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.ReLU:
                setattr(parent, name, RedirectedClamp(0.0, None))
            elif type(child) is nn.ReLU6:
                setattr(parent, name, RedirectedClamp(0.0, 6.0))
            else:
                continue
            swapped += 1
    return swapped
