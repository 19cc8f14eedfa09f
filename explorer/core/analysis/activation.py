"""One image's activation map for a channel, laid over the image as a person sees it."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..data.preprocess import Preprocess


def layer_output(extractor, preprocess: Preprocess, image: Image.Image, layer: str | None = None) -> np.ndarray:
    """`layer`'s output for one image: (C, H, W) float32 (or (C,) for 1-D layers).

    `extractor` comes from `ModelGraph.extractor` (a dict of outputs; `layer` picks one, and may
    be left out when there is only one) or maps images to one tensor. The image goes to the
    extractor's device; no lock is needed (the extractor guards itself against a trace).
    """
    import torch

    device = next((t.device for t in extractor.parameters()), torch.device("cpu"))
    x = preprocess(image)[None].to(device)
    with torch.inference_mode():
        out = extractor(x)
    if isinstance(out, dict):
        if layer is None and len(out) != 1:
            raise ValueError(f"the extractor returns {', '.join(out)}: say which layer")
        out = out[layer] if layer is not None else next(iter(out.values()))
    return out[0].float().cpu().numpy()


def overlay(image: Image.Image, channel_map: np.ndarray, preprocess: Preprocess, *,
            alpha: float = 0.55) -> Image.Image:
    """`channel_map` (H, W) upsampled onto the part of `image` the network saw, as a heat map.

    The map covers the centre crop; outside it the image is dimmed (the network never saw it).
    """
    w, h = image.size
    left, top, right, bottom = preprocess.input_to_original((0, 0, preprocess.crop, preprocess.crop), (w, h))
    m = np.asarray(channel_map, np.float32)
    lo, hi = float(m.min()), float(m.max())
    norm = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    heat = Image.fromarray((heat_colours(norm) * 255).astype(np.uint8)).resize(
        (max(1, right - left), max(1, bottom - top)), Image.Resampling.BILINEAR)
    base = image.convert("RGB")
    out = Image.blend(base, Image.new("RGB", base.size, (0, 0, 0)), 0.5)  # dim what was cropped away
    region = base.crop((left, top, right, bottom))
    out.paste(Image.blend(region, heat, alpha), (left, top))
    return out


def heat_colours(x: np.ndarray) -> np.ndarray:
    """A perceptual dark-blue -> yellow ramp (close to viridis): (...,) in [0,1] -> (..., 3) in [0,1]."""
    stops = np.array([[0.267, 0.005, 0.329], [0.229, 0.322, 0.546], [0.128, 0.567, 0.551],
                      [0.369, 0.789, 0.383], [0.993, 0.906, 0.144]])
    x = np.clip(np.asarray(x, np.float64), 0, 1) * (len(stops) - 1)
    i = np.minimum(x.astype(int), len(stops) - 2)
    f = (x - i)[..., None]
    return stops[i] * (1 - f) + stops[i + 1] * f
