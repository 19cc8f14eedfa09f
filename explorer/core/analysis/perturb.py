"""Perturbations of one image, as torchvision and Pillow define them: the variants a sweep embeds.

Every variant is made from the image the network sees: the model's own resize and centre crop
(`network_input`, the same pixels as `Preprocess`), so "8 px" means 8 input pixels. Geometric and
photometric kinds act on that PIL image through torchvision.transforms.functional with the
parameters below; noise and the adversarial kinds (adversarial.py) act on its [0, 1] tensor.

    kind          value                    definition
    translate     x shift, input px        F.affine(img, 0, [v, 0], 1, [0, 0], BILINEAR, fill=0)
    translate-y   y shift, input px        F.affine(img, 0, [0, v], 1, [0, 0], BILINEAR, fill=0)
    rotate        degrees, anticlockwise   F.rotate(img, v, BILINEAR, fill=0)
    scale         zoom factor (1: none)    F.affine(img, 0, [0, 0], v, [0, 0], BILINEAR, fill=0)
    brightness    factor (1: none)         F.adjust_brightness(img, v)
    contrast      factor (1: none)         F.adjust_contrast(img, v)
    gamma         exponent (1: none)       F.adjust_gamma(img, v)
    blur          sigma, input px          F.gaussian_blur(img, 2*ceil(3v)+1, v) (0: none)
    noise         sigma, of [0, 1] pixels  clip(x + v * randn(seed), 0, 1), the same randn for every v
    jpeg          quality 1..100           Pillow: save(format="JPEG", quality=v), read back
    occlude       square side, input px    a square of the normalisation mean's colour centred at `at`
    fgsm, pgd     epsilon in /255          see adversarial.py
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import ExplorerError

MAX_VALUES = 200  # a sweep longer than this is almost surely a typo in the step


@dataclass(frozen=True)
class Kind:
    name: str
    default: str  # START:STOP:STEP
    unit: str
    lowest: float = -math.inf
    highest: float = math.inf


KINDS = {k.name: k for k in (
    Kind("translate", "-16:16:4", "px (x)"),
    Kind("translate-y", "-16:16:4", "px (y)"),
    Kind("rotate", "-90:90:15", "degrees"),
    Kind("scale", "0.5:1.5:0.1", "zoom", 0.01),
    Kind("brightness", "0.2:2:0.2", "factor", 0.0),
    Kind("contrast", "0.2:2:0.2", "factor", 0.0),
    Kind("gamma", "0.4:2.2:0.2", "exponent", 0.01),
    Kind("blur", "0:4:0.5", "sigma px", 0.0, 50.0),
    Kind("noise", "0:0.5:0.05", "sigma", 0.0, 10.0),
    Kind("jpeg", "5:95:10", "quality", 1, 100),
    Kind("occlude", "0:64:8", "side px", 0.0),
    Kind("fgsm", "0:8:1", "/255", 0.0, 255.0),
    Kind("pgd", "0:8:1", "/255", 0.0, 255.0),
)}
ADVERSARIAL = ("fgsm", "pgd")
ALIASES = {"translate-x": "translate", "rotation": "rotate", "zoom": "scale", "occlusion": "occlude"}


def check_kind(kind: str) -> str:
    name = ALIASES.get(str(kind).strip().lower(), str(kind).strip().lower())
    if name not in KINDS:
        raise ExplorerError(f"kind {kind!r}: choose one of {', '.join(KINDS)}.")
    return name


def parse_values(text: str | None, kind: str) -> list[float]:
    """'START:STOP:STEP' (STOP included when the steps reach it), 'A,B,C' or one number; None: the kind's
    default. One-line errors name the text."""
    kind = check_kind(kind)
    spec = KINDS[kind]
    text = spec.default if text is None or not str(text).strip() else str(text).strip()
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) != 3:
                raise ValueError
            start, stop, step = parts
            if not all(math.isfinite(p) for p in parts) or step == 0 or (stop - start) / step < 0:
                raise ExplorerError(f"values {text!r}: STEP must be non-zero and go from START towards STOP.")
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            if n > MAX_VALUES:
                raise ExplorerError(f"values {text!r} give {n} values; at most {MAX_VALUES} (use a larger STEP).")
            values = [round(start + i * step, 10) for i in range(n)]
        else:
            values = [float(p) for p in text.split(",") if p.strip()]
            if not values or not all(math.isfinite(v) for v in values):
                raise ValueError
    except ValueError:
        raise ExplorerError(f"values {text!r}: expected START:STOP:STEP (e.g. {spec.default}), A,B,C or one "
                            "number.") from None
    bad = [v for v in values if not spec.lowest <= v <= spec.highest]
    if bad:
        raise ExplorerError(f"values {text!r}: {kind} needs values from {spec.lowest:g} to {spec.highest:g} "
                            f"({spec.unit}); got {bad[0]:g}.")
    return values


# --- the image the network sees ------------------------------------------------------------------

def network_input(preprocess, image: Image.Image) -> Image.Image:
    """The RGB crop (crop x crop) the model sees: `Preprocess` without the tensor and normalisation."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    from ..data.preprocess import _RESAMPLE

    img = image.convert("RGB")
    rw, rh = preprocess.resized_size(img.size)
    crop = preprocess.crop
    if rw < crop or rh < crop:  # as Preprocess: torchvision's resize, then a padded centre crop
        img = F.resize(img, [preprocess.resize], interpolation=InterpolationMode(preprocess.interpolation),
                       antialias=True)
        return F.center_crop(img, [crop, crop])
    w, h = img.size
    ox, oy = int(round((rw - crop) / 2.0)), int(round((rh - crop) / 2.0))
    sx, sy = w / rw, h / rh
    box = (ox * sx, oy * sy, (ox + crop) * sx, (oy + crop) * sy)
    return img.resize((crop, crop), _RESAMPLE[preprocess.interpolation], box=box)


def to_unit_tensor(img: Image.Image):
    """(3, H, W) float32 in [0, 1]."""
    from torchvision.transforms import functional as F

    return F.pil_to_tensor(img.convert("RGB")).float().div_(255.0)


def to_image(x) -> Image.Image:
    """A [0, 1] tensor (3, H, W) back to an 8-bit RGB image."""
    a = (x.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())
    return Image.fromarray(a, "RGB")


def normalise(x, preprocess):
    """[0, 1] (B, 3, H, W) -> the model's normalised input (differentiable)."""
    import torch

    mean = torch.tensor(preprocess.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(preprocess.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


# --- the transforms --------------------------------------------------------------------------------

def perturb_image(img: Image.Image, kind: str, value: float, *, seed: int = 0, at=(0.5, 0.5),
                  fill_colour=(124, 116, 104)) -> Image.Image:
    """One variant of the network-input image `img` (not fgsm/pgd: those need the model)."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    kind = check_kind(kind)
    v = float(value)
    bilinear = InterpolationMode.BILINEAR
    if kind == "translate":
        return F.affine(img, angle=0.0, translate=[int(round(v)), 0], scale=1.0, shear=[0.0, 0.0],
                        interpolation=bilinear, fill=0)
    if kind == "translate-y":
        return F.affine(img, angle=0.0, translate=[0, int(round(v))], scale=1.0, shear=[0.0, 0.0],
                        interpolation=bilinear, fill=0)
    if kind == "rotate":
        return F.rotate(img, v, interpolation=bilinear, fill=0)
    if kind == "scale":
        return F.affine(img, angle=0.0, translate=[0, 0], scale=v, shear=[0.0, 0.0], interpolation=bilinear, fill=0)
    if kind == "brightness":
        return F.adjust_brightness(img, v)
    if kind == "contrast":
        return F.adjust_contrast(img, v)
    if kind == "gamma":
        return F.adjust_gamma(img, v)
    if kind == "blur":
        return img.copy() if v <= 0 else F.gaussian_blur(img, blur_kernel(v), [v, v])
    if kind == "noise":
        return to_image(add_noise(to_unit_tensor(img), v, seed))
    if kind == "jpeg":
        buf = io.BytesIO()
        img.convert("RGB").save(buf, format="JPEG", quality=int(round(v)))
        buf.seek(0)
        return Image.open(buf).convert("RGB")
    if kind == "occlude":
        return occlude(img, v, at, fill_colour)
    raise ExplorerError(f"kind {kind!r} needs the model (see adversarial.py).")


def blur_kernel(sigma: float) -> int:
    """An odd kernel covering +-3 sigma."""
    return 2 * int(math.ceil(3 * sigma)) + 1


def noise_pattern(shape, seed: int):
    """The standard normal pattern of `seed`: torch.randn with its own generator (reproducible anywhere)."""
    import torch

    return torch.randn(tuple(shape), generator=torch.Generator().manual_seed(int(seed)))


def add_noise(x, sigma: float, seed: int):
    """clip(x + sigma * randn(seed), 0, 1) on a [0, 1] tensor (3, H, W)."""
    return (x + float(sigma) * noise_pattern(x.shape, seed)).clamp_(0.0, 1.0)


def occlude(img: Image.Image, side: float, at=(0.5, 0.5), colour=(124, 116, 104)) -> Image.Image:
    """A side x side square centred at `at` (fractions of width and height), clipped to the image."""
    a = np.array(img.convert("RGB"))
    s = int(round(side))
    if s <= 0:
        return Image.fromarray(a)
    h, w = a.shape[:2]
    cx, cy = int(round(at[0] * w)), int(round(at[1] * h))
    x0, y0 = cx - s // 2, cy - s // 2
    a[max(0, y0):max(0, y0 + s), max(0, x0):max(0, x0 + s)] = colour
    return Image.fromarray(a)


def mean_colour(preprocess) -> tuple[int, int, int]:
    """The normalisation mean as 8-bit RGB: an occluder of this colour is 0 in the model's input."""
    return tuple(int(round(m * 255)) for m in preprocess.mean)
