"""Random jitter, scale and rotation at every step (Lucid's standard transforms), seeded.

An image that keeps exciting the neuron while it moves a few pixels, grows or shrinks a few per
cent and turns a few degrees has to hold structure at the scale of the neuron's receptive field,
not a high-frequency pattern tuned to one pixel grid.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SCALES = [1 + (i - 5) / 50 for i in range(11)]  # 0.9 .. 1.1
ANGLES = list(range(-10, 11))  # degrees


def jitter(x: torch.Tensor, d: int, g: torch.Generator) -> torch.Tensor:
    """A random crop, `d` pixels smaller on each side."""
    if d <= 0:
        return x
    dx, dy = (int(v) for v in torch.randint(0, d + 1, (2,), generator=g))
    return x[..., dy:x.shape[-2] - d + dy, dx:x.shape[-1] - d + dx]


def scale_rotate(x: torch.Tensor, scale: float, degrees: float) -> torch.Tensor:
    """Zoom by `scale` and rotate by `degrees` about the centre, bilinear, edges reflected."""
    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a) / scale, -math.sin(a) / scale, 0.0],
                          [math.sin(a) / scale, math.cos(a) / scale, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def standard(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """pad 12 (grey), jitter 8, scale 0.9..1.1, rotate -10..10 degrees, jitter 4."""
    x = F.pad(x, (12, 12, 12, 12), mode="constant", value=0.5)
    x = jitter(x, 8, g)
    scale = SCALES[int(torch.randint(len(SCALES), (1,), generator=g))]
    angle = ANGLES[int(torch.randint(len(ANGLES), (1,), generator=g))]
    x = scale_rotate(x, scale, angle)
    return jitter(x, 4, g)
