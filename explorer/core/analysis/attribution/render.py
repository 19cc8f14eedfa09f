"""A map as a person reads it: over the image at its true aspect ratio, with a colour scale and caption.

The map covers the network's centre crop; outside it the image is dimmed (the network never saw
it). Display ranges: signed maps (CAM, occlusion) from their minimum to their maximum; gradient
maps (|value| over colours) from 0 to their 99.5th percentile, so a few extreme pixels do not
turn the rest black. The colour scale prints the values the ends stand for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ...data.preprocess import Preprocess
from ..activation import heat_colours

if TYPE_CHECKING:
    from .methods import Attribution

GRADIENT_SHAPED = ("gradient", "guided-backprop", "guided-gradcam", "integrated-gradients")


def display_range(attribution: Attribution) -> tuple[float, float]:
    heat = attribution.heat()
    finite = heat[np.isfinite(heat)]
    if not finite.size:
        return 0.0, 1.0
    if attribution.method in GRADIENT_SHAPED:
        lo, hi = 0.0, float(np.percentile(finite, 99.5))
    else:
        lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else (lo, lo + 1e-12)


def map_image(attribution: Attribution, value_range: tuple[float, float] | None = None) -> Image.Image:
    """The heat (H, W) coloured with the app's ramp, at the input resolution (RGB)."""
    lo, hi = value_range or display_range(attribution)
    heat = np.nan_to_num(attribution.heat(), nan=lo)
    return Image.fromarray((heat_colours((heat - lo) / (hi - lo)) * 255).astype(np.uint8))


def overlay_map(image: Image.Image, attribution: Attribution, preprocess: Preprocess, *, alpha: float = 0.6,
                value_range: tuple[float, float] | None = None) -> Image.Image:
    """The image (its own size and aspect) with the map blended over the part the network saw."""
    base = image.convert("RGB")
    w, h = base.size
    left, top, right, bottom = preprocess.input_to_original((0, 0, preprocess.crop, preprocess.crop), (w, h))
    heat = map_image(attribution, value_range).resize((max(1, right - left), max(1, bottom - top)),
                                                      Image.Resampling.BILINEAR)
    out = Image.blend(base, Image.new("RGB", base.size, (0, 0, 0)), 0.5)
    region = base.crop((left, top, right, bottom))
    out.paste(Image.blend(region, heat, float(np.clip(alpha, 0, 1))), (left, top))
    return out


def caption(attribution: Attribution) -> str:
    where = f" at {attribution.layer}" if attribution.layer else ""
    return (f"{attribution.method}{where} · target {attribution.target_name} (#{attribution.target}) · "
            f"p={attribution.probability:.3f} · logit {attribution.score:.2f}")


def figure(image: Image.Image, attribution: Attribution, preprocess: Preprocess, *, alpha: float = 0.6,
           width: int = 512) -> Image.Image:
    """The overlay scaled to `width`, a colour scale with its end values, and the caption below."""
    lo, hi = display_range(attribution)
    over = overlay_map(image, attribution, preprocess, alpha=alpha, value_range=(lo, hi))
    scale = width / over.width
    over = over.resize((width, max(1, round(over.height * scale))), Image.Resampling.LANCZOS)
    font = ImageFont.load_default(size=14)
    bar_h, pad = 14, 8
    out = Image.new("RGB", (width, over.height + bar_h + 3 * pad + 36), "white")
    out.paste(over, (0, 0))
    y = over.height + pad
    ramp = (heat_colours(np.linspace(0, 1, width - 2 * pad))[None].repeat(bar_h, 0) * 255).astype(np.uint8)
    out.paste(Image.fromarray(ramp), (pad, y))
    d = ImageDraw.Draw(out)
    d.text((pad, y + bar_h + 2), f"{lo:.3g}", fill="black", font=font)
    d.text((width - pad, y + bar_h + 2), f"{hi:.3g}", fill="black", font=font, anchor="ra")
    d.text((width // 2, y + bar_h + 2), "value" if attribution.method != "occlusion" else "probability drop",
           fill="#555555", font=font, anchor="ma")
    d.text((pad, y + bar_h + 22), caption(attribution), fill="black", font=font)
    return out


def faithfulness_plot(f, *, width: int = 300, height: int = 150) -> Image.Image:
    """Deletion (red) and insertion (blue) curves: target probability against the share of pixels."""
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=11)
    left, top, right, bottom = 30, 8, width - 8, height - 22
    d.rectangle((left, top, right, bottom), outline="#999999")
    peak = max(float(np.max(f.deletion)), float(np.max(f.insertion)), 1e-9)
    for curve, colour in ((f.deletion, "#d62728"), (f.insertion, "#1f77b4")):
        pts = [(left + fr * (right - left), bottom - v / peak * (bottom - top)) for fr, v in zip(f.fractions, curve)]
        d.line(pts, fill=colour, width=2)
    d.text((left - 4, top), f"{peak:.2g}", fill="black", font=font, anchor="ra")
    d.text((left - 4, bottom), "0", fill="black", font=font, anchor="rs")
    d.text((left, bottom + 4), "deletion", fill="#d62728", font=font)
    d.text((right, bottom + 4), "insertion", fill="#1f77b4", font=font, anchor="ra")
    d.text(((left + right) // 2, bottom + 4), "share of pixels", fill="#555555", font=font, anchor="ma")
    return img
