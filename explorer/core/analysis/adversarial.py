"""FGSM and PGD (L-infinity) on the model's own preprocessing.

The attack lives in [0, 1] pixel space (what a picture can hold): the model sees
normalise(x_adv), and x_adv is clipped to [0, 1] after every step, so the perturbed image is a
real picture. Epsilon is given in /255 units (8 means 8/255): one number, or one per row of the batch
(a sweep attacks copies of one image at every epsilon in one batch).

Untargeted: raise the cross-entropy of the label (the clean prediction), x + eps * sign(grad).
Targeted: lower the cross-entropy of the target class, x - eps * sign(grad).
PGD (Madry et al.): a seeded uniform start in the eps-ball, `steps` signed-gradient steps of
`alpha` (default eps/4), each projected back onto the eps-ball around x and onto [0, 1].
"""

from __future__ import annotations

import torch
from torch.nn import functional as nnf

from .perturb import normalise


def _eps(eps255, x: torch.Tensor) -> torch.Tensor:
    """Epsilon in [0, 1] units, shaped to broadcast over (B, 3, H, W)."""
    e = torch.as_tensor(eps255, dtype=x.dtype, device=x.device).reshape(-1) / 255.0
    return e.view(-1, 1, 1, 1)


def _signed_gradient(model, x: torch.Tensor, labels: torch.Tensor, preprocess) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(normalise(x, preprocess))["logits"].float()
        loss = nnf.cross_entropy(logits, labels)
        (grad,) = torch.autograd.grad(loss, x)
    return grad.sign()


def fgsm(model, x: torch.Tensor, labels: torch.Tensor, preprocess, eps255: float, *,
         targeted: bool = False) -> torch.Tensor:
    """x (B, 3, H, W) in [0, 1], labels (B,) -> clip(x +- eps * sign(grad_x CE), 0, 1). One image (B = 1)
    with several epsilons gives one row per epsilon."""
    eps = _eps(eps255, x)
    direction = -1.0 if targeted else 1.0
    return (x.detach() + direction * eps * _signed_gradient(model, x, labels, preprocess)).clamp(0.0, 1.0)


def pgd(model, x: torch.Tensor, labels: torch.Tensor, preprocess, eps255: float, *, targeted: bool = False,
        steps: int = 10, alpha255: float | None = None, seed: int = 0, random_start: bool = True) -> torch.Tensor:
    """Projected gradient descent in the L-inf ball of radius eps around x, within [0, 1]."""
    x = x.detach()
    eps = _eps(eps255, x)
    alpha = eps / 4 if alpha255 is None else _eps(alpha255, x)
    direction = -1.0 if targeted else 1.0
    adv = x.clone()
    if random_start:
        g = torch.Generator().manual_seed(int(seed))
        start = torch.rand(x.shape, generator=g).to(x.device) * 2 - 1
        adv = (x + eps * start).clamp(0.0, 1.0)
    for _ in range(int(steps)):
        adv = adv + direction * alpha * _signed_gradient(model, adv, labels, preprocess)
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0.0, 1.0)
    return adv.detach()


def attack(kind: str, model, x: torch.Tensor, labels: torch.Tensor, preprocess, eps255: float, *,
           targeted: bool = False, seed: int = 0, steps: int = 10) -> torch.Tensor:
    if kind == "fgsm":
        return fgsm(model, x, labels, preprocess, eps255, targeted=targeted)
    return pgd(model, x, labels, preprocess, eps255, targeted=targeted, seed=seed, steps=steps)
