"""How much a channel fired in an image: the measure shown, and whether the layer saturates.

A run keeps two numbers per image and channel: `channel_max`, the strongest unit of the channel's
map, and `features`, the mean over the map (the run's pooling is the spatial mean, so the mean needs
no array of its own). After a capped activation (ReLU6, hardtanh) the maximum of many channels sits
exactly at the cap in most images: on EfficientNet-Lite0's `bn2` about 50 of 1,280 channels read 6.00
in every image, so rankings by the maximum tie and colours by it are flat. The mean over the map
reaches the cap only when every unit does, so `auto` shows the mean where the maxima saturate and
the maximum (the classic "maximally activating patch") elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ExplorerError
from ..run.store import Run

MEASURES = ("max", "mean")  # stored measures; "auto" picks one per run
LABELS = {"max": "spatial max (strongest unit)", "mean": "spatial mean (mean over the map)"}
SHORT = {"max": "max", "mean": "mean"}
ARRAYS = {"max": "channel_max", "mean": "features"}
SATURATED = 0.5  # a channel whose maximum is at the cap in at least half the images is flagged
_CAP_SHARE, _CAP_MIN = 1e-3, 8  # a cap: the top value shared by >= 0.1% of the (image, channel) maxima
_CAP_LEAST = 1e-3  # smaller "caps" are float16 underflow of a dead layer (random mobilenet_v3: 6e-8)
_SAMPLE = 4096  # rows read to find the cap (evenly spaced): enough, and cheap for huge runs


@dataclass(frozen=True)
class ChannelSummary:
    """Per channel of the run's layer, over the embedded images: (C,) arrays."""

    means: np.ndarray  # mean over images of the spatial mean
    maxima: np.ndarray  # largest spatial max
    at_cap: np.ndarray  # share of images whose spatial max is at the layer's cap (0 when no cap)
    cap: float | None  # the value the layer's activation is clipped to, when its maxima pile up there

    @property
    def saturated(self) -> np.ndarray:
        """(C,) bool: channels at the cap in at least SATURATED of the images."""
        return self.at_cap >= SATURATED


def check_measure(measure: str | None) -> str:
    """'auto' (also None), 'max' or 'mean'; ExplorerError naming a wrong one."""
    measure = "auto" if measure is None else str(measure).strip().lower()
    if measure not in ("auto", *MEASURES):
        raise ExplorerError(f"Unknown measure {measure!r}; choose auto, max (strongest unit) or mean "
                            "(mean over the map).")
    return measure


def _done_rows(run: Run) -> np.ndarray:
    return np.flatnonzero(run.done_mask)


def activation_cap(run: Run) -> float | None:
    """The ceiling of the layer's activation (6.0 after ReLU6) when many channel maxima sit exactly on
    it, else None. Reads at most _SAMPLE rows."""
    rows = _done_rows(run)
    if not len(rows):
        return None
    if len(rows) > _SAMPLE:
        rows = rows[np.linspace(0, len(rows) - 1, _SAMPLE).astype(np.int64)]
    values = np.asarray(run.channel_max[rows], np.float32)
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    top = float(values.max())
    count = int((values == top).sum())
    if count < max(_CAP_MIN, _CAP_SHARE * values.size) or top < _CAP_LEAST:
        return None  # the top is a single strong response, or values too small for float16 to resolve
    if len(np.unique(values[values < top])) < _CAP_MIN:
        return None  # a handful of distinct values (a dead or underflowing layer): nothing ranks anyway
    return top


def resolve_measure(run: Run, measure: str | None = "auto", cap: float | None | bool = False) -> str:
    """The stored measure to show: 'max' or 'mean'; 'auto' is the mean when the layer saturates.

    `cap`: the layer's cap when the caller already knows it (None: no cap); False: find it.
    """
    measure = check_measure(measure)
    if measure != "auto":
        return measure
    if cap is False:
        cap = activation_cap(run)
    return "mean" if cap is not None else "max"


def measure_array(run: Run, measure: str) -> np.ndarray:
    """(n_images, n_channels): the run's stored array for a resolved measure ('max' or 'mean')."""
    return run.array(ARRAYS[resolve_measure(run, measure)])


def channel_values(run: Run, channel: int, measure: str | None = "auto") -> np.ndarray:
    """(n_images,) float32: one channel's value in every image, by `measure` (rows not embedded: as stored)."""
    return np.asarray(measure_array(run, resolve_measure(run, measure))[:, channel], np.float32)


def channel_summary(run: Run) -> ChannelSummary:
    """Each channel's mean and max activation and how often it sits at the layer's cap, in one pass
    over the run (blockwise: memory stays bounded for huge runs)."""
    c = run.features.shape[1]
    rows = _done_rows(run)
    cap = activation_cap(run)
    if not len(rows):
        return ChannelSummary(np.zeros(c, np.float32), np.zeros(c, np.float32), np.zeros(c, np.float32), cap)
    sums = np.zeros(c, np.float64)
    maxima = np.full(c, -np.inf)
    at_cap = np.zeros(c, np.int64)
    for start in range(0, len(rows), 8192):
        block = rows[start:start + 8192]
        sums += np.asarray(run.features[block], np.float64).sum(0)
        top = np.asarray(run.channel_max[block], np.float32)
        maxima = np.maximum(maxima, top.max(0))
        if cap is not None:
            at_cap += (top == np.float32(cap)).sum(0)
    n = len(rows)
    return ChannelSummary((sums / n).astype(np.float32), maxima.astype(np.float32),
                          (at_cap / n).astype(np.float32), cap)


def share_at_cap(run: Run, channel: int, cap: float | None) -> float:
    """The share of embedded images whose maximum of `channel` is at the layer's cap (0 without a cap)."""
    if cap is None or not run.done_mask.any():
        return 0.0
    column = np.asarray(run.channel_max[:, channel], np.float32)[run.done_mask]
    return float((column == np.float32(cap)).mean())


def describe(measure: str, cap: float | None, at_cap: float = 0.0) -> str:
    """One line for people: what the numbers are, why when the mean was chosen, and how often the
    channel sits at the cap (`at_cap`, a share of the images)."""
    text = f"ranked by the {LABELS[measure]}"
    if cap is not None and measure == "mean":
        text += f"; the layer's maxima saturate at {cap:g}, so the maximum would tie"
    elif cap is not None:
        text += f"; maxima at the layer's cap ({cap:g}) tie and are ordered by the mean"
    if at_cap > 0:
        text += f"; at the cap in {at_cap:.0%} of the images" + (" (saturated)" if at_cap >= SATURATED else "")
    return text


def colour_codes(run: Run, channel: int, measure: str | None, steps: int) -> np.ndarray:
    """(n,) int64 ramp step of each image by the channel's value (lowest embedded 0, highest steps-1),
    like session.channel_colour_codes but by `measure`. Reads one column: call it off the GUI thread."""
    values = channel_values(run, channel, measure)
    done = run.done_mask & np.isfinite(values)
    lo, hi = (float(values[done].min()), float(values[done].max())) if done.any() else (0.0, 1.0)
    scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    return np.clip(np.nan_to_num(scaled * (steps - 1)).round(), 0, steps - 1).astype(np.int64)
