"""Maximally activating patches, read from a run's stored per-channel maxima.

For a channel c, the images where c fires most are the top images, by a measure (measures.py): the
spatial maximum, or the mean over the map where the maxima saturate (ReLU6: every top image would
read 6.00). The unit that fired most is stored too (channel_argmax), and its receptive field, mapped
back through the preprocessing, is the patch in the original image. No network is run: a channel's
patches for 100k images cost one column read.

The images themselves are read again to crop them; one that was deleted, moved or damaged since
the embedding does not stop the others: `channel_patches` names it (a `MissingPatch`, with the
reason), and `crop_patch` raises DecodeError naming the file, so a caller can skip it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import DecodeError, ExplorerError
from ..run.images import load_item
from ..run.store import Run
from .measures import ARRAYS, resolve_measure


@dataclass(frozen=True)
class Patch:
    index: int
    path: str
    label: str | None
    activation: float
    unit: tuple[int, int]  # (y, x) in the layer's map
    box: tuple[int, int, int, int]  # [left, top, right, bottom) in the original image's pixels

    def to_json(self) -> dict:
        return {"index": self.index, "path": self.path, "activation": _finite(self.activation), "box": list(self.box)}


@dataclass(frozen=True)
class MissingPatch:
    """A top image whose file cannot be read now (deleted, moved, damaged): ranked, but no patch."""

    index: int
    path: str
    label: str | None
    activation: float
    reason: str  # names the file: "/data/birds/robin/3.jpg: file not found (...)"

    def to_json(self) -> dict:
        return {"index": self.index, "path": self.path, "activation": _finite(self.activation), "box": None,
                "missing": self.reason}


@dataclass(frozen=True)
class ChannelPatches:
    """A channel's top images, best first: a Patch for each image that can be read, else a MissingPatch."""

    channel: int
    ranked: list  # list[Patch | MissingPatch]
    measure: str = "max"  # what `activation` is: "max" (strongest unit) or "mean" (mean over the map)

    @property
    def patches(self) -> list[Patch]:
        return [p for p in self.ranked if isinstance(p, Patch)]

    @property
    def missing(self) -> list[MissingPatch]:
        return [p for p in self.ranked if isinstance(p, MissingPatch)]


def _finite(value: float) -> float | None:
    """JSON has no NaN: a non-finite activation is null."""
    return float(value) if np.isfinite(value) else None


def _check_channel(run: Run, channel: int) -> None:
    n_channels = run.channel_max.shape[1]
    if not 0 <= channel < n_channels:
        raise ExplorerError(f"Channel {channel} does not exist: layer {run.layer} has "
                            f"{n_channels} channels (0..{n_channels - 1}).")


def unit_box_in_input(run: Run, unit: tuple[int, int]) -> tuple[int, int, int, int]:
    """[left, top, right, bottom) of a unit's receptive field in the network's input."""
    size = run.input_size
    field = run.field()
    if field is None:  # a pooled (1-D) layer sees the whole input
        return (0, 0, size, size)
    return field.box(*unit, size)


def original_size(run: Run, index: int) -> tuple[int, int]:
    return run.source.original_size(index, run.rows[index].path)


def patch_box(run: Run, index: int, unit: tuple[int, int]) -> tuple[int, int, int, int]:
    """The unit's receptive field mapped onto image `index` as a person sees it, clipped."""
    return run.preprocess.input_to_original(unit_box_in_input(run, unit), original_size(run, index))


def _ranked(run: Run, column, measure: str, k: int, rows: np.ndarray | None = None):
    """(order, values): the k best of `column(name)` values by `measure`, ties broken by the other
    measure, then by position; rows outside `rows` (default: every embedded row) never rank."""
    other = "mean" if measure == "max" else "max"
    values = np.asarray(column(ARRAYS[measure]), np.float32).copy()
    second = np.asarray(column(ARRAYS[other]), np.float32)
    if rows is not None:
        values[~rows] = -np.inf
    order = np.lexsort((np.arange(len(values)), -second, -values))[:k]
    return order, values


def channel_patches(run: Run, channel: int, k: int = 9, measure: str | None = "auto", *,
                    cap: float | None | bool = False) -> ChannelPatches:
    """The k images where `channel` fires most, best first, each with the patch that fired, or, for an
    image that cannot be read now, a MissingPatch saying why.

    `measure`: "max" ranks by the channel's spatial maximum, "mean" by its mean over the map, "auto"
    by the mean where the layer's maxima saturate (measures.resolve_measure; `cap` as known to the
    caller, False: found here). Ties are broken by the other measure. `activation` is the measure's value.
    """
    _check_channel(run, channel)
    measure = resolve_measure(run, measure, cap)
    k = min(k, int(run.done_mask.sum()))
    if k <= 0:
        return ChannelPatches(channel, [], measure)
    top, values = _ranked(run, lambda name: run.array(name)[:, channel], measure, k, run.done_mask)
    shape = run.layer_shape()
    width = shape[2] if len(shape) == 3 else 1
    folder = run.source.kind == "folder"
    out = []
    for i in top:
        i = int(i)
        row = run.rows[i]
        y, x = divmod(int(run.channel_argmax[i, channel]), width)
        full = run.full_path(i) if folder else None
        if full is not None and not os.path.exists(full):
            reason = f"{full}: file not found (moved or deleted since it was embedded)"
            out.append(MissingPatch(i, row.path, row.label, float(values[i]), reason))
            continue
        try:
            box = patch_box(run, i, (y, x))
        except DecodeError as exc:
            out.append(MissingPatch(i, row.path, row.label, float(values[i]), exc.reason))
            continue
        out.append(Patch(i, row.path, row.label, float(values[i]), (y, x), box))
    return ChannelPatches(channel, out, measure)


def top_patches(run: Run, channel: int, k: int = 9, measure: str | None = "auto") -> list[Patch]:
    """The patches of the k images where `channel` fires most (by `measure`), best first.

    An image that cannot be read now is left out (so fewer than k may come back);
    `channel_patches` names those.
    """
    return channel_patches(run, channel, k, measure).patches


def crop_patch(run: Run, patch: Patch) -> Image.Image:
    """The patch cut from its image; DecodeError (its reason names the file) when the image cannot be
    read now, e.g. deleted or moved since the embedding: skip it and show the others."""
    if not isinstance(patch, Patch):
        raise DecodeError("missing", getattr(patch, "reason", f"{patch!r} has no patch"))
    return load_item(run, patch.index).crop(patch.box)


def channel_stats(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """(mean activation, max activation) per channel over the embedded images: (C,), (C,)."""
    done = run.done_mask
    if not done.any():
        c = run.features.shape[1]
        return np.zeros(c, np.float32), np.zeros(c, np.float32)
    means = np.zeros(run.features.shape[1], np.float64)
    maxima = np.full(run.features.shape[1], -np.inf)
    rows = np.flatnonzero(done)
    for start in range(0, len(rows), 8192):  # blockwise: memory stays bounded for huge runs
        block = rows[start:start + 8192]
        means += np.asarray(run.features[block], np.float64).sum(0)
        maxima = np.maximum(maxima, np.asarray(run.channel_max[block], np.float64).max(0))
    return (means / len(rows)).astype(np.float32), maxima.astype(np.float32)


def top_channels(run: Run, index: int, n: int = 10, measure: str | None = "auto", *,
                 cap: float | None | bool = False) -> list[tuple[int, float]]:
    """The channels that fire most in image `index`: [(channel, value by `measure`)], strongest first
    (see channel_patches for `measure` and `cap`); ties broken by the other measure."""
    measure = resolve_measure(run, measure, cap)
    order, values = _ranked(run, lambda name: run.array(name)[index], measure, n)
    return [(int(c), float(values[c])) for c in order]
