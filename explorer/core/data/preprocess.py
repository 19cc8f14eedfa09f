"""The input pipeline a model expects: resize the shorter side, centre-crop, normalise.

Kept as plain numbers (not an opaque transform) so it can be written in the run's
manifest, hashed into the cache key and inverted: a box in the network's input
maps back onto the original photo.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import lru_cache

from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:  # torch is imported lazily: the app's window appears before it loads
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
             "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS,
             "box": Image.Resampling.BOX, "hamming": Image.Resampling.HAMMING}


@dataclass(frozen=True)
class Preprocess:
    resize: int  # shorter side after resizing, pixels
    crop: int  # square centre crop fed to the network
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"

    def with_image_size(self, size: int) -> "Preprocess":
        """Override the input size, keeping the model's resize-to-crop ratio."""
        return replace(self, crop=int(size), resize=int(round(size * self.resize / self.crop)))

    def to_dict(self) -> dict:
        return asdict(self)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        """(3, crop, crop) float32, normalised: torchvision's resize-then-centre-crop, computed directly
        (a view of `hwc`: torchvision's pil_to_tensor is a view of the same layout)."""
        return self.hwc(img).permute(2, 0, 1)

    def hwc(self, img: Image.Image, out: "torch.Tensor | None" = None) -> torch.Tensor:
        """The same values as (crop, crop, 3): a batch of these stacks straight into channels_last,
        the layout the network runs in (embedding), instead of being transposed after stacking.
        `out`: a (crop, crop, 3) float32 tensor to fill (a row of a chunk's buffer) rather than a new one."""
        import numpy as np
        import torch

        img = self.cropped(img)
        pixels = torch.from_numpy(np.array(img.convert("RGB") if img.mode != "RGB" else img))
        x = pixels.float() if out is None else out.copy_(pixels)
        x.div_(255.0)
        h, w, _ = x.shape
        mean, std = _mean_std(self.mean, self.std, w)
        # F.normalize's arithmetic, in place, a row at a time: broadcast over the last 3 values (a pixel)
        # it ran 3x slower (0.32 ms an image, 0.12 now), and F.normalize itself cost 0.3 ms
        x.view(h, w * 3).sub_(mean).div_(std)
        return x

    def cropped(self, img: Image.Image) -> Image.Image:
        """The (crop, crop) image the network sees, before normalisation.

        Pillow resamples just the cropped region (`box`), which gives the same pixels as resizing
        the whole image and cropping (to one grey level of rounding) at about half the cost, and
        never builds the huge intermediate a 3000x4 strip would need.
        """
        from torchvision.transforms import functional as F

        rw, rh = self.resized_size(img.size)
        if rw < self.crop or rh < self.crop:  # a crop larger than the image: torchvision pads
            from torchvision.transforms import InterpolationMode

            img = F.resize(img, [self.resize], interpolation=InterpolationMode(self.interpolation), antialias=True)
            return F.center_crop(img, [self.crop, self.crop])
        w, h = img.size
        ox, oy = int(round((rw - self.crop) / 2.0)), int(round((rh - self.crop) / 2.0))
        sx, sy = w / rw, h / rh
        box = (ox * sx, oy * sy, (ox + self.crop) * sx, (oy + self.crop) * sy)
        return img.resize((self.crop, self.crop), _RESAMPLE[self.interpolation], box=box)

    def resized_size(self, original_size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) after the shorter-side resize, as torchvision computes it."""
        w, h = original_size
        if w <= h:
            return self.resize, int(self.resize * h / w)
        return int(self.resize * w / h), self.resize

    def input_to_original(self, box: tuple[float, float, float, float],
                          original_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """Map [left, top, right, bottom) in input pixels onto the original image, clipped."""
        w, h = original_size
        rw, rh = self.resized_size(original_size)
        off_x = int(round((rw - self.crop) / 2.0))  # torchvision's centre-crop offsets
        off_y = int(round((rh - self.crop) / 2.0))
        sx, sy = rw / w, rh / h
        left, top, right, bottom = box
        return (max(0, int(round((left + off_x) / sx))), max(0, int(round((top + off_y) / sy))),
                min(w, int(round((right + off_x) / sx))), min(h, int(round((bottom + off_y) / sy))))


@lru_cache(maxsize=8)
def _mean_std(mean: tuple, std: tuple, width: int) -> tuple["torch.Tensor", "torch.Tensor"]:
    """mean and std repeated along a row of `width` RGB pixels."""
    import torch

    return (torch.tensor(mean, dtype=torch.float32).repeat(width),
            torch.tensor(std, dtype=torch.float32).repeat(width))


def from_torchvision(transforms) -> Preprocess:
    """Read the numbers out of a torchvision weights' ImageClassification preset."""
    return Preprocess(
        resize=int(transforms.resize_size[0]),
        crop=int(transforms.crop_size[0]),
        mean=tuple(float(v) for v in transforms.mean),
        std=tuple(float(v) for v in transforms.std),
        interpolation=transforms.interpolation.value,
    )


def from_timm(data_config: dict) -> Preprocess:
    """timm's resolve_data_config output -> Preprocess (crop_pct sets the resize)."""
    import math

    crop = int(data_config["input_size"][-1])
    crop_pct = float(data_config.get("crop_pct") or 0.875)
    return Preprocess(
        resize=int(math.floor(crop / crop_pct)),
        crop=crop,
        mean=tuple(float(v) for v in data_config["mean"]),
        std=tuple(float(v) for v in data_config["std"]),
        interpolation=str(data_config.get("interpolation") or "bilinear"),
    )
