"""JPEG decoding on the GPU (nvJPEG through torchvision.io.decode_jpeg) for embedding on CUDA.

On an H200 with 16 cores the forward pass ran at 15,800 images/s and the embedding at 750: the
CPUs decoding JPEGs were the limit. Here DataLoader workers only read the bytes (hashing them for
`--verify` on the way) and parse the header; the GPU decodes a whole batch, turns it upright
(EXIF), resizes, crops and normalises it as torchvision's tensor transforms do.

What the GPU cannot decode, or may decode differently, goes the CPU way as before: anything but a
baseline or progressive JPEG in RGB or grey (CMYK, PNG, ...), or a file nvJPEG rejects. The pixels
differ from Pillow's by a grey level here and there, so runs decoded this way carry
`decode: "gpu"` in their cache key and never mix rows with CPU-decoded ones.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import torch
from PIL import Image

from ..data.decode import MAX_PIXELS
from ..data.preprocess import Preprocess

DECODERS = ("auto", "cpu", "gpu")
# torchvision 0.29 deprecates its decoders for TorchCodec's; they work as before until TorchCodec's
# GPU JPEG decoder can replace them here (a dependency the app does not have yet)
warnings.filterwarnings("ignore", message=".*decoding and encoding capabilities of TorchVision are deprecated",
                        category=DeprecationWarning)


def available(device: torch.device) -> bool:
    """torchvision can decode JPEGs on this device."""
    if device.type != "cuda":
        return False
    try:
        from torchvision.io import decode_jpeg  # noqa: F401
    except ImportError:
        return False
    return True


def choose(decode: str, device: torch.device) -> str:
    """auto: "gpu" on CUDA where torchvision can, else "cpu"."""
    from ..errors import ExplorerError

    decode = (decode or "auto").lower()
    if decode not in DECODERS:
        raise ExplorerError(f"Unknown --decode {decode!r}; choose one of {', '.join(DECODERS)}.")
    if decode == "gpu" and not available(device):
        raise ExplorerError(f"--decode gpu needs a CUDA device and torchvision's GPU decoder (device: {device}); "
                            "use --decode cpu.")
    if decode == "auto":
        return "gpu" if available(device) else "cpu"
    return decode


@dataclass
class Jpeg:
    """A file's bytes, for the GPU; orientation is its EXIF value (1: as stored)."""

    data: torch.Tensor  # uint8, the whole file
    orientation: int


def read_jpeg(path: str) -> tuple[Jpeg | None, bytes]:
    """(Jpeg, 16-byte BLAKE2b digest) when the GPU should decode `path`, (None, digest) when the CPU should.

    Reads the file once: the digest is the one datasets.file_digest gives. Raises OSError if unreadable.
    """
    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.blake2b(data, digest_size=16).digest()
    if not data:
        return None, digest
    try:
        with Image.open(io.BytesIO(data)) as im:  # the header only
            w, h = im.size
            if im.format != "JPEG" or im.mode not in ("RGB", "L") or not 0 < w * h <= MAX_PIXELS:
                return None, digest
            orientation = int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # not an image Pillow knows: the CPU path says why
        return None, digest
    if orientation not in range(1, 9):
        orientation = 1
    if data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):  # no end marker after the last scan: cut short
        return None, digest  # nvJPEG decodes what is there; Pillow (and so the CPU run) calls it truncated
    return Jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), orientation), digest


def upright(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """(3, H, W) turned as PIL.ImageOps.exif_transpose turns it."""
    if orientation == 2:
        return image.flip(2)
    if orientation == 3:
        return image.flip(1).flip(2)
    if orientation == 4:
        return image.flip(1)
    if orientation == 5:
        return image.transpose(1, 2)
    if orientation == 6:
        return image.rot90(-1, (1, 2))  # clockwise
    if orientation == 7:
        return image.transpose(1, 2).flip(1).flip(2)
    if orientation == 8:
        return image.rot90(1, (1, 2))
    return image


def prepare(image: torch.Tensor, preprocess: Preprocess) -> torch.Tensor:
    """(..., 3, H, W) uint8 -> (..., 3, crop, crop) float32 normalised: torchvision's resize, centre crop,
    normalise (a batch of one size at once)."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    x = F.resize(image, [preprocess.resize], interpolation=InterpolationMode(preprocess.interpolation),
                 antialias=True)
    x = F.center_crop(x, [preprocess.crop, preprocess.crop])
    return F.normalize(x.float().div_(255.0), preprocess.mean, preprocess.std)


def decode(jpegs: list[Jpeg], preprocess: Preprocess, device: torch.device) -> list[torch.Tensor | None]:
    """Each JPEG decoded on `device` and prepared; None where the decoder refused it (the CPU retries)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    if not jpegs:
        return []
    try:
        images = decode_jpeg([j.data for j in jpegs], mode=ImageReadMode.RGB, device=device)
    except RuntimeError:  # one bad file fails the whole batch: find it
        images = []
        for j in jpegs:
            try:
                images.append(decode_jpeg(j.data, mode=ImageReadMode.RGB, device=device))
            except RuntimeError:
                images.append(None)
    out: list[torch.Tensor | None] = [None] * len(jpegs)
    groups: dict[tuple, list[int]] = {}  # images of one size are resized together: one call, not one each
    for k, (im, j) in enumerate(zip(images, jpegs)):
        if im is not None:
            images[k] = upright(im, j.orientation)
            groups.setdefault(tuple(images[k].shape), []).append(k)
    for ks in groups.values():
        for k, x in zip(ks, prepare(torch.stack([images[k] for k in ks]), preprocess)):
            out[k] = x
    return out
