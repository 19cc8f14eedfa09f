"""Options several sub-commands share, and the checks that turn a bad value into a one-line error.

Values are checked by argparse (`type=` below), so a bad one stops the command before anything is
loaded: `error: argument --workers: must be a whole number, 0 or more (got '-1')`. Paths are checked
when a command runs (`run_folder`, `output_folder`, `output_file`): a read-only or impossible place
is refused before any work is done, with a message that names it.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path

SEED_MAX = 2**32 - 1  # numpy's and scikit-learn's limit
DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$", re.IGNORECASE)


def weights(value: str | None) -> str | None:
    """'pretrained' or nothing: the model's own weights (None); else 'random' or a file path."""
    return None if value in (None, "", "pretrained") else value


def layers(value) -> str | tuple[str, ...] | None:
    """--layer given once, several times or comma-separated: one layer (str), several (tuple) or None."""
    items = [value] if isinstance(value, str) else list(value or [])
    names = [name.strip() for item in items for name in item.split(",") if name.strip()]
    names = list(dict.fromkeys(names))
    return None if not names else names[0] if len(names) == 1 else tuple(names)


# --- values (argparse `type=`) --------------------------------------------------------------------------

def whole(minimum: int, maximum: int | None = None, what: str = "a whole number"):
    """A `type=` for integers in [minimum, maximum]."""
    span = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {what}, {span} (got {text!r})")
        return value

    parse.__name__ = f"whole number {span}"
    return parse


workers = whole(0, what="a whole number of decoding processes")
batch_size = whole(1, what="a whole number of images")
image_size = whole(1, what="a whole number of pixels")
count = whole(1)
index = whole(0, what="a row index")
seed = whole(0, SEED_MAX, what="a whole number")
threads = whole(1, what="a whole number of threads")


def positive(text: str) -> float:
    """A `type=` for finite numbers above zero (perplexity, learning rate, ...)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number (got {text!r})")
    return value


perplexity = positive


def fraction(text: str) -> float:
    """A `type=` for a share strictly between 0 and 1."""
    value = positive(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1 (got {text!r})")
    return value


def fraction_or_count(text: str) -> float:
    """A `type=` for a GPU share: 0, a fraction (several workers per GPU) or a whole count."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0 and (value <= 1 or value.is_integer())):
        raise argparse.ArgumentTypeError(f"must be 0, a fraction of 1 or a whole number (got {text!r})")
    return value


def measure(text: str) -> str:
    """auto, max or mean: what ranks a channel's top images (see core/analysis/measures.py)."""
    value = text.strip().lower()
    if value not in ("auto", "max", "mean"):
        raise argparse.ArgumentTypeError(f"must be auto, max or mean (got {text!r})")
    return value


def device(text: str) -> str:
    if not DEVICE.match(text.strip()):
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda, cuda:N or mps (got {text!r})")
    return text.strip().lower()


def model_options(sp, with_layer: bool = True, several_layers: bool = False) -> None:
    sp.add_argument("--model", default="efficientnet_lite0",
                    help="zoo name or timm:NAME (default: efficientnet_lite0, bundled)")
    sp.add_argument("--weights", default=None,
                    help="PATH of a state dict, 'random' (seeded), or omit for pretrained")
    sp.add_argument("--image-size", type=image_size, default=None,
                    help="input size in pixels (default: the model's)")
    if with_layer and several_layers:
        sp.add_argument("--layer", action="append", default=None,
                        help="layer name or block name (its output, e.g. layer3; default: last spatial layer); "
                             "repeat it, or separate names with commas, to fill several layers in one pass (the "
                             "first is the run's main layer)")
    elif with_layer:
        sp.add_argument("--layer", default=None, help="layer name or block name (its output, e.g. layer3; "
                        "default: last spatial layer)")


def embed_options(sp) -> None:
    model_options(sp, several_layers=True)
    sp.add_argument("--device", type=device, default="auto",
                    help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    sp.add_argument("--batch-size", type=batch_size, default=64)
    sp.add_argument("--workers", type=workers, default=None, help="image decoding processes (default: by device)")
    sp.add_argument("--decode", choices=("auto", "cpu", "gpu"), default="auto",
                    help="where JPEGs are decoded: auto (on the GPU when embedding on CUDA, with nvJPEG), cpu, gpu; "
                         "GPU-decoded runs are kept apart from CPU-decoded ones")
    threads_option(sp)


def threads_option(sp) -> None:
    """--threads: main.main puts it in EXPLORER_THREADS, which core.threads reads."""
    sp.add_argument("--threads", type=threads, default=None,
                    help="CPU threads for the heavy work (default: the free cores, i.e. the cores less the load "
                         "average; or EXPLORER_THREADS)")


# --- places (checked when the command runs) -----------------------------------------------------------

def _error(message: str):
    from ..core.errors import ExplorerError

    return ExplorerError(message)


def _writable(folder: Path) -> bool:
    # access(2) also answers for root: a read-only file system (EROFS) or an immutable folder (EPERM)
    return os.access(folder, os.W_OK | os.X_OK)


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    return probe


def _check_folder(folder: Path, flag: str, given) -> None:
    """`folder` (which may not exist yet) can be created and written into; else a one-line error."""
    folder = folder.absolute()
    probe = _nearest_existing(folder)
    if not probe.is_dir():
        raise _error(f"{flag} {given}: {probe} is a file, not a folder.")
    if not _writable(probe):
        raise _error(f"{flag} {given}: {probe} is read-only (no permission to write there); make it writable "
                     "or choose another place.")


def output_folder(path: str | os.PathLike, flag: str) -> Path:
    """A folder the command may create or write into; else a one-line error naming it."""
    p = Path(path).expanduser()
    _check_folder(p, flag, path)
    return p


def output_file(path: str | os.PathLike, flag: str, example: str = "rows.csv") -> Path:
    """A file the command may create or replace; else a one-line error naming it."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise _error(f"{flag} {path}: is a folder; give a file name, e.g. {p / example}.")
    _check_folder(p.parent, flag, path)
    if p.exists() and not os.access(p, os.W_OK):
        raise _error(f"{flag} {path}: the file is read-only; make it writable or choose another name.")
    return p


def run_folder(path: str | os.PathLike, *, writable: bool = False) -> Path:
    """A run folder to read (the store says what is wrong with one), and to write into when `writable`."""
    p = Path(path).expanduser()
    if writable and p.is_dir() and not _writable(p):
        raise _error(f"{path}: the run folder is read-only, and this command keeps its result in it; make it "
                     "writable or copy the run elsewhere.")
    return p
