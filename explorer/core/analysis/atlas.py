"""A neuron atlas of a run's layer: each channel's top image, orderings, and what explains an image.

All from the run's stored arrays (no network): `channel_max` (the strongest unit of each channel's
map) and `features` (the mean over the map, which is also the feature vector the map is built from).
Per channel, `v` is its value in an image by a measure (measures.py: "max" or "mean").

- mean activation: the mean of v over the embedded images.
- selectivity: how concentrated the channel is on one label. With m_l = the mean of max(v, 0) over
  the images of label l, selectivity = max_l m_l / sum_l m_l: 1 when it fires on one label only,
  1/L when it fires alike on all L labels (means per label, so big classes do not win by size).
- on the selection: the mean of v over the selected images.
- standing out (explain_image): z = (f - mean) / std of the image's feature value per channel over
  the run's images; the largest z are the channels that pull the image away from the crowd.

Large runs are read in blocks of rows: memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..run.store import Run
from .measures import ARRAYS, resolve_measure
from .patches import Patch, patch_box

ORDERS = ("mean", "selectivity", "selection")
_BLOCK = 8192


@dataclass(frozen=True)
class ChannelTops:
    """Per channel: (C,) the image where it fires most by `measure` (-1: nothing embedded) and the value."""

    index: np.ndarray
    value: np.ndarray
    measure: str


def _rows(run: Run) -> np.ndarray:
    return np.flatnonzero(run.done_mask)


def channel_tops(run: Run, measure: str | None = "auto", *, cap: float | None | bool = False) -> ChannelTops:
    """Each channel's top image by `measure`, ties broken as patches.channel_patches breaks them (by
    the other measure, then the first image), so a cell shows the first of the channel's top patches."""
    measure = resolve_measure(run, measure, cap)
    other = "mean" if measure == "max" else "max"
    first, second = run.array(ARRAYS[measure]), run.array(ARRAYS[other])
    c = first.shape[1]
    best = np.full(c, -np.inf)
    best2 = np.full(c, -np.inf)
    index = np.full(c, -1, np.int64)
    rows = _rows(run)
    for start in range(0, len(rows), _BLOCK):
        block = rows[start:start + _BLOCK]
        v = np.nan_to_num(np.asarray(first[block], np.float32), nan=-np.inf)
        s = np.nan_to_num(np.asarray(second[block], np.float32), nan=-np.inf)
        top = v.max(0)
        cand = v == top
        top2 = np.where(cand, s, -np.inf).max(0)
        pick = np.argmax(cand & (s == top2), axis=0)  # the first such row of the block
        better = (top > best) | ((top == best) & (top2 > best2))  # equal: the earlier block keeps it
        index = np.where(better, block[pick], index)
        best, best2 = np.where(better, top, best), np.where(better, top2, best2)
    return ChannelTops(index, np.where(index >= 0, best, np.nan).astype(np.float32), measure)


def top_patch(run: Run, channel: int, index: int, activation: float) -> Patch:
    """The patch of `channel` in image `index` (its strongest unit's receptive field); DecodeError when
    the image cannot be read now."""
    shape = run.layer_shape()
    width = shape[2] if len(shape) == 3 else 1
    y, x = divmod(int(run.channel_argmax[index, channel]), width)
    row = run.rows[index]
    return Patch(index, row.path, row.label, float(activation), (y, x), patch_box(run, index, (y, x)))


def mean_activation(run: Run, measure: str | None = "auto", rows: np.ndarray | None = None) -> np.ndarray:
    """(C,) float32: the mean of each channel's value by `measure` over `rows` (default: every embedded
    image; NaN when there are none)."""
    values = run.array(ARRAYS[resolve_measure(run, measure)])
    rows = _rows(run) if rows is None else np.asarray(rows, np.int64)
    rows = rows[run.done_mask[rows]] if len(rows) else rows
    if not len(rows):
        return np.full(values.shape[1], np.nan, np.float32)
    total = np.zeros(values.shape[1], np.float64)
    for start in range(0, len(rows), _BLOCK):
        total += np.asarray(values[np.sort(rows[start:start + _BLOCK])], np.float64).sum(0)
    return (total / len(rows)).astype(np.float32)


def selectivity(run: Run, measure: str | None = "auto") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """((C,) share of the top label, (C,) index of that label in `labels`, labels): see the module text.
    Images without a label are left out; with fewer than two labels every share is NaN."""
    names = [r.label for r in run.rows]
    done = run.done_mask
    labels = sorted({n for n, d in zip(names, done) if d and n})
    c = run.features.shape[1]
    if len(labels) < 2:
        return np.full(c, np.nan, np.float32), np.full(c, -1, np.int64), labels
    values = run.array(ARRAYS[resolve_measure(run, measure)])
    code = {name: i for i, name in enumerate(labels)}
    codes = np.array([code.get(n, -1) if d and n else -1 for n, d in zip(names, done)], np.int64)
    sums = np.zeros((len(labels), c), np.float64)
    rows = np.flatnonzero(codes >= 0)
    for start in range(0, len(rows), _BLOCK):
        block = rows[start:start + _BLOCK]
        v = np.clip(np.nan_to_num(np.asarray(values[block], np.float32)), 0, None)
        onehot = (codes[block][None, :] == np.arange(len(labels))[:, None]).astype(np.float32)  # (L, b)
        sums += onehot @ v  # a matrix product: np.add.at is 20x slower
    per_label = sums / np.bincount(codes[rows], minlength=len(labels))[:, None]
    total = per_label.sum(0)
    share = np.divide(per_label.max(0), total, out=np.zeros(c), where=total > 0)
    return share.astype(np.float32), per_label.argmax(0).astype(np.int64), labels


def order(scores: np.ndarray) -> np.ndarray:
    """Channels by score, highest first (NaN last), ties by channel index."""
    s = np.nan_to_num(np.asarray(scores, np.float64), nan=-np.inf)
    return np.lexsort((np.arange(len(s)), -s))


@dataclass(frozen=True)
class Standout:
    channel: int
    z: float  # (feature - mean) / std over the run's images
    value: float  # the image's feature value (mean over the map)
    mean: float


def feature_moments(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """((C,), (C,)) float64: each channel's mean and std of the feature vector over the embedded images
    (two passes: a constant channel's std is exactly 0, never float noise). One pass over the run:
    compute it once per run and hand it to explain_image."""
    rows = _rows(run)
    feats = run.features
    c = feats.shape[1]
    blocks = [rows[start:start + _BLOCK] for start in range(0, len(rows), _BLOCK)]
    n_rows = max(len(rows), 1)
    mean = sum((np.asarray(feats[b], np.float64).sum(0) for b in blocks), np.zeros(c)) / n_rows
    std = np.sqrt(sum((((np.asarray(feats[b], np.float64) - mean) ** 2).sum(0) for b in blocks), np.zeros(c)) / n_rows)
    return mean, std


def explain_image(run: Run, index: int, n: int = 8, moments: tuple | None = None) -> list[Standout]:
    """The n channels where image `index` stands out most above the run: largest z of its feature
    vector (the spatial means the map is built from), channel by channel; a channel that never varies
    has z = 0. `moments`: feature_moments(run), when the caller keeps it."""
    mean, std = feature_moments(run) if moments is None else moments
    f = np.asarray(run.features[index], np.float64)
    z = np.divide(f - mean, std, out=np.zeros(len(mean)), where=std > 0)
    top = order(z)[:n]
    return [Standout(int(ch), float(z[ch]), float(f[ch]), float(mean[ch])) for ch in top]
