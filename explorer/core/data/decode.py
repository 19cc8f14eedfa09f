"""Turn any image file into the RGB picture a person would see, or a DecodeError.

Orientation comes from EXIF; 16-bit data is rescaled, not clipped to white;
transparency is composited on a fixed background so the network never sees
arbitrary colours hidden under alpha.

Which files are images: IMAGE_EXTENSIONS are decoded; UNSUPPORTED_EXTENSIONS are image-like
formats we do not read, each with what the user can do about it. HEIC/HEIF (phone photos) are
read through the pillow-heif plugin and AVIF through Pillow's own decoder, each only when present
here; otherwise they are unsupported, with the fix. pillow-heif's opener is registered with
Pillow when our decoder first runs, never at import, so importing explorer leaves Pillow's
registry as it was.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import DecodeError

BASE_EXTENSIONS = frozenset(
    ".jpg .jpeg .jpe .jfif .png .bmp .gif .tif .tiff .webp .ppm .pgm .pbm .pnm .ico .tga".split()
)
HEIF_EXTENSIONS = frozenset((".heic", ".heif", ".hif"))  # .hif: Canon's HEIF
AVIF_EXTENSIONS = frozenset((".avif",))
_RAW = "camera RAW file: develop it and export as JPEG or PNG"
_NOT_READ = {
    **dict.fromkeys((".svg", ".svgz"), "SVG is a vector format: export it as PNG"),
    ".ai": "Illustrator file (a vector format): export it as PNG",
    ".eps": "EPS is a vector format: export it as PNG",
    **dict.fromkeys((".psd", ".psb"), "Photoshop document: flatten it and export as PNG or TIFF"),
    ".xcf": "GIMP document: flatten it and export as PNG",
    ".kra": "Krita document: flatten it and export as PNG",
    ".jxl": "JPEG XL is not read: export it as PNG or JPEG",
    ".exr": "OpenEXR (HDR) is not read: export a tone-mapped PNG or TIFF",
    ".hdr": "Radiance HDR is not read: export a tone-mapped PNG or TIFF",
    **dict.fromkeys(".raw .dng .cr2 .cr3 .crw .nef .nrw .arw .srf .sr2 .orf .rw2 .raf .pef .srw .x3f .3fr "
                    ".erf .kdc .mrw .mos .iiq .rwl".split(), _RAW),
}
HEIF_MISSING = "HEIC/HEIF needs the pillow-heif package: pip install pillow-heif"
AVIF_MISSING = "AVIF needs a Pillow built with AVIF (11.3 or later): pip install -U pillow"


def heif_available() -> bool:
    """pillow-heif is installed (found without importing it)."""
    try:
        return importlib.util.find_spec("pillow_heif") is not None
    except (ImportError, ValueError):
        return False


def avif_available() -> bool:
    """This Pillow decodes AVIF itself."""
    from PIL import features

    try:
        return bool(features.check_module("avif"))
    except (ValueError, ImportError):  # a Pillow that does not know AVIF at all
        return False


def _tables() -> tuple[frozenset[str], dict[str, str]]:
    readable, unsupported = set(BASE_EXTENSIONS), dict(_NOT_READ)
    for exts, present, missing in ((HEIF_EXTENSIONS, heif_available(), HEIF_MISSING),
                                   (AVIF_EXTENSIONS, avif_available(), AVIF_MISSING)):
        if present:
            readable |= exts
        else:
            unsupported.update(dict.fromkeys(exts, missing))
    return frozenset(readable), unsupported


# lower-case extensions with the dot: what is listed and decoded, and image-like files we do not
# read -> why (listed in Dataset.skipped). Any other file (.txt, .csv, ...) is not an image.
IMAGE_EXTENSIONS, UNSUPPORTED_EXTENSIONS = _tables()

_PLUGINS = threading.Lock()
_plugins_registered = False


def _register_plugins() -> None:
    """Register pillow-heif's opener with Pillow, once, when the decoder first runs."""
    global _plugins_registered
    if _plugins_registered:
        return
    with _PLUGINS:
        if _plugins_registered:
            return
        try:
            from pillow_heif import register_heif_opener
        except ImportError:
            pass
        else:
            try:
                register_heif_opener()
            except Exception as exc:  # a broken libheif must not stop JPEGs from decoding
                warnings.warn(f"pillow-heif could not be registered; HEIC files will not be read ({exc})",
                              RuntimeWarning, stacklevel=3)
        _plugins_registered = True


BACKGROUND = (255, 255, 255)  # behind transparent pixels
MAX_PIXELS = 100_000_000  # beyond this a header is treated as a decompression bomb

# Our own check (in _to_rgb, on the header, before any pixel is decoded) replaces Pillow's, so the
# message can name the size the header claims. Pillow's limits are process-wide settings that
# belong to whoever runs us (a notebook keeps its decompression-bomb guard): they are lifted only
# inside `_open`, around the header parse, under a lock, and put back at once.
_PILLOW_LIMITS = threading.Lock()


def _open(path: str) -> Image.Image:
    """Image.open without Pillow's pixel limit (ours applies), leaving the process-wide setting as it was."""
    _register_plugins()
    with _PILLOW_LIMITS:
        before = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = before


def load_rgb(path: str | os.PathLike, *, draft_size: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """Decode `path` into an 8-bit RGB image, oriented as a person sees it.

    draft_size: a lower bound for the shorter side; lets JPEG decode at a reduced
    scale (much faster for big photos) while the result stays at least that large.
    Returns (image, original_size): original_size is (width, height) after EXIF
    rotation, in the file's full resolution, so boxes can be mapped back onto it.
    """
    path = os.fspath(path)
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise DecodeError("missing", f"{path}: file not found (moved, deleted or a dangling link)") from None
    except OSError as exc:
        raise DecodeError("unreadable", f"{path}: cannot read ({exc.strerror or exc})") from None
    if size == 0:
        raise DecodeError("empty", f"{path}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _open(path) as im:
                return _to_rgb(im, draft_size)
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError("too-large", f"{path}: not decoded: {exc}") from None
    except UnidentifiedImageError:
        missing = _missing_decoder(path)
        raise DecodeError("unreadable", f"{path}: " + (missing or "not an image Pillow can read")) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        text = str(exc)
        kind = "truncated" if "truncated" in text.lower() or isinstance(exc, EOFError) else "unreadable"
        raise DecodeError(kind, f"{path}: {'truncated image' if kind == 'truncated' else 'cannot decode'} ({text})") from None


def _missing_decoder(path: str) -> str | None:
    """Why a HEIC/AVIF file could not be read when its decoder is not installed here."""
    ext = os.path.splitext(path)[1].lower()
    if ext in HEIF_EXTENSIONS and not heif_available():
        return HEIF_MISSING
    if ext in AVIF_EXTENSIONS and not avif_available():
        return AVIF_MISSING
    return None


def _check_size(im: Image.Image, w: int, h: int) -> None:
    dw, dh = im.size  # what will actually be decoded (JPEG drafts are smaller)
    if dw * dh > MAX_PIXELS:
        raise Image.DecompressionBombError(f"its header claims {w}x{h} = {w * h / 1e6:,.0f} million pixels, "
                                           f"above the limit of {MAX_PIXELS / 1e6:,.0f} million; a damaged file "
                                           "or a decompression bomb")


def _to_rgb(im: Image.Image, draft_size: int | None) -> tuple[Image.Image, tuple[int, int]]:
    w, h = im.size
    jpeg = im.format == "JPEG"
    if not jpeg:
        _check_size(im, w, h)  # before anything reads pixel data
    if getattr(im, "is_animated", False):
        im.seek(0)  # first frame of GIF/APNG/WebP animations
    orientation = im.getexif().get(0x0112, 1)
    original_size = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    if jpeg:
        if draft_size and im.mode in ("RGB", "L", "CMYK"):
            im.draft(im.mode, (draft_size, draft_size))  # decode at 1/2, 1/4 or 1/8 scale
        _check_size(im, w, h)
    im.load()
    if orientation != 1:  # (exif_transpose copies an image it leaves as it is)
        im = ImageOps.exif_transpose(im)
    return _convert(im), original_size


def _convert(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return Image.fromarray(_rescale_to_uint8(np.asarray(im), mode)).convert("RGB")
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")  # 1, L, P, CMYK, YCbCr, LAB, HSV


def _rescale_to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    a = a.astype(np.float64)
    if mode == "F":
        lo, hi = (0.0, 1.0) if a.min() >= 0 and a.max() <= 1 else (float(a.min()), float(a.max()))
    elif mode.startswith("I;16") or (a.min() >= 0 and a.max() <= 65535):
        lo, hi = 0.0, 65535.0
    else:
        lo, hi = float(a.min()), float(a.max())
    span = hi - lo if hi > lo else 1.0
    return np.clip((a - lo) / span * 255.0 + 0.5, 0, 255).astype(np.uint8)


def oriented_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) as a person sees the image (EXIF rotation applied), from the header only."""
    try:
        with _open(os.fspath(path)) as im:
            w, h = im.size
            return (h, w) if im.getexif().get(0x0112, 1) in (5, 6, 7, 8) else (w, h)
    except (OSError, SyntaxError, ValueError) as exc:
        raise DecodeError("unreadable", f"{path}: cannot read the image header ({exc})") from None
