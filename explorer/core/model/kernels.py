"""The first convolution's kernels as a grid of small images.

Each kernel is normalised symmetrically around zero by its own largest magnitude,
so mid-grey means zero, and enlarged by pixel repetition (no blur). RGB kernels are
shown in colour; one-channel (grey input or depthwise) kernels in grey; kernels over
other channel counts as the mean over their input channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ExplorerError


@dataclass
class KernelGrid:
    image: np.ndarray  # (H, W, 3) uint8, the whole grid
    n_kernels: int
    kernel_size: tuple[int, int]  # (kh, kw) of one kernel
    columns: int
    scale: int  # screen pixels per kernel pixel
    gap: int
    norms: np.ndarray  # (n_kernels,) L2 norm of each kernel
    layer: str  # module name of the first convolution
    colour: bool

    def tile_at(self, x: int, y: int) -> int:
        """Index of the kernel under grid pixel (x, y), or -1 in a gap or outside."""
        kh, kw = self.kernel_size
        cw, ch = kw * self.scale + self.gap, kh * self.scale + self.gap
        col, row = (x - self.gap) // cw, (y - self.gap) // ch
        inside = (x - self.gap) % cw < kw * self.scale and (y - self.gap) % ch < kh * self.scale
        i = row * self.columns + col
        return int(i) if inside and 0 <= col < self.columns and 0 <= i < self.n_kernels and x >= self.gap \
            and y >= self.gap else -1


def first_conv(module):
    """(name, Conv2d) of the first convolution the input meets."""
    from torch import nn

    for name, m in module.named_modules():
        if isinstance(m, nn.Conv2d):
            return name, m
    raise ExplorerError(f"{type(module).__name__} has no 2-D convolution to show.")


def kernel_tiles(weight: np.ndarray) -> tuple[np.ndarray, bool]:
    """(out, in, kh, kw) weights -> (out, kh, kw, 3) floats in [0, 1], mid-grey = 0; and colour?"""
    w = np.asarray(weight, np.float64)
    colour = w.shape[1] == 3
    if not colour:
        w = w.mean(axis=1, keepdims=True)  # grey input, depthwise, or many channels
    scale = np.abs(w).reshape(len(w), -1).max(axis=1)
    scale[scale == 0] = 1.0
    tiles = 0.5 + 0.5 * w / scale[:, None, None, None]
    tiles = np.transpose(tiles, (0, 2, 3, 1))
    if not colour:
        tiles = np.repeat(tiles, 3, axis=3)
    return tiles, colour


def kernel_grid(module, *, pixels: int = 48, gap: int = 2, columns: int | None = None) -> KernelGrid:
    """The grid image of the first convolution of `module`; `pixels` is the tile size on screen."""
    name, conv = first_conv(module)
    weight = conv.weight.detach().cpu().float().numpy()
    tiles, colour = kernel_tiles(weight)
    n, kh, kw, _ = tiles.shape
    scale = max(1, pixels // max(kh, kw))
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    th, tw = kh * scale, kw * scale
    grid = np.full((gap + rows * (th + gap), gap + columns * (tw + gap), 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        tile = np.repeat(np.repeat(tiles[i], scale, axis=0), scale, axis=1)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        grid[y:y + th, x:x + tw] = np.round(tile * 255).astype(np.uint8)
    norms = np.sqrt((weight.reshape(len(weight), -1) ** 2).sum(axis=1))
    return KernelGrid(grid, n, (kh, kw), columns, scale, gap, norms, name, colour)
