"""An image as the optimiser sees it (Olah et al. 2017, "Feature Visualization"; Lucid's defaults).

Pixels are not optimised directly: a scaled Fourier spectrum (each frequency divided by its
magnitude, so all frequencies learn at the same rate) in a decorrelated colour space, squashed
into [0, 1] by a sigmoid. `pixel` is the naive parameterisation, for comparison.
`FourierImage.from_image` inverts the mapping, so the start can be any picture.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

# Lucid's square root of ImageNet's colour correlation (columns normalised): decorrelated -> RGB
_COLOUR_SQRT = np.asarray([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
COLOUR = torch.from_numpy(_COLOUR_SQRT / np.max(np.linalg.norm(_COLOUR_SQRT, axis=0)))


def frequencies(h: int, w: int) -> np.ndarray:
    """|f| of rfft2's grid for an (h, w) image: (h, w // 2 + 1)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.sqrt(fx * fx + fy * fy)


class FourierImage(nn.Module):
    """(n, 3, size, size) in [0, 1] from a spectrum; `decorrelate` mixes colours with COLOUR."""

    def __init__(self, n: int, size: int, *, sd: float = 0.01, decay: float = 1.0, decorrelate: bool = True,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.size, self.decorrelate = size, decorrelate
        freqs = frequencies(size, size)
        scale = 1.0 / np.maximum(freqs, 1.0 / size) ** decay
        # Lucid's sqrt(h w) with an unnormalised inverse FFT is this scale with the orthonormal one
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))
        shape = (n, 3) + freqs.shape + (2,)
        self.spectrum = nn.Parameter(torch.randn(shape, generator=generator) * sd)

    def forward(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        image = torch.fft.irfft2(spectrum, s=(self.size, self.size), norm="ortho") / 4.0
        if self.decorrelate:
            image = torch.einsum("ij,njhw->nihw", COLOUR.to(image), image)  # on its device (GPU)
        return torch.sigmoid(image)

    @torch.no_grad()
    def from_image(self, image: torch.Tensor) -> "FourierImage":
        """Set the parameters so that forward() returns `image` ((n, 3, size, size) in (0, 1))."""
        x = torch.logit(image.clamp(1e-4, 1 - 1e-4))
        if self.decorrelate:
            x = torch.einsum("ij,njhw->nihw", torch.linalg.inv(COLOUR).to(x), x)
        spectrum = torch.fft.rfft2(x * 4.0, norm="ortho") / self.scale
        self.spectrum.copy_(torch.view_as_real(spectrum))
        return self


class PixelImage(nn.Module):
    """The naive parameterisation: pixels in [0, 1] (clamped), from small noise around grey."""

    def __init__(self, n: int, size: int, *, sd: float = 0.01, generator: torch.Generator | None = None, **_):
        super().__init__()
        self.pixels = nn.Parameter(0.5 + torch.randn((n, 3, size, size), generator=generator) * sd)

    def forward(self) -> torch.Tensor:
        return self.pixels.clamp(0, 1)
