"""The app's state without Qt: what is on screen, one source of truth, one change event per field.

A `Session` holds the settings (dataset, model, weights, layer, projection ...), the
results on display (run, layout) and what the user picked (selection, hidden
classes, colouring). Assigning a field emits its psygnal event, named after the
field, with (new value, old value); the Qt layer binds views to these events and
never keeps a second copy of the values. Several fields set together (a new run
resets the selection) are announced after all of them changed, in the order they
were set, so every handler sees a consistent state.

    session = Session()
    session.events.selection.connect(lambda new, old: print("selected", new))
    session.select([3])
"""

from __future__ import annotations

import colorsys
from copy import copy
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np
from psygnal import Signal, SignalGroup

from .model.zoo import DEFAULT_MODEL
from .run.store import Run

DEFAULT_DATASET = "demo:digits"

# --- colours of the map and legend: pure data, so scripts colour maps exactly as the app does -------
UNLABELLED = (140, 140, 140)
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
           (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199),
           (219, 219, 141), (158, 218, 229)]
RAMP_STEPS = 32


def class_colour(code: int) -> tuple[int, int, int]:
    """RGB of class `code` (-1: unlabelled); golden-ratio hues beyond the palette."""
    if code < 0:
        return UNLABELLED
    if code < len(PALETTE):
        return PALETTE[code]
    r, g, b = colorsys.hsv_to_rgb((code * 0.618033988749895) % 1.0, 0.65, 0.85)
    return round(r * 255), round(g * 255), round(b * 255)


def ramp() -> list[tuple[int, int, int]]:
    """RAMP_STEPS colours from low (dark blue) to high (yellow) activation."""
    from .analysis.activation import heat_colours

    rgb = heat_colours(np.linspace(0, 1, RAMP_STEPS)) * 255
    return [tuple(int(round(v)) for v in c) for c in rgb]


def channel_colour_codes(run: Run, channel: int, steps: int = RAMP_STEPS) -> np.ndarray:
    """(n,) int64 ramp step of each image by the channel's spatial max: lowest embedded 0, highest steps-1.

    Reads one column of the run's channel_max (a strided read of the whole file): call it
    once per channel, off the GUI thread, and hand the codes to `Session.set_colour_channel`.
    """
    values = np.asarray(run.channel_max[:, channel], np.float32)
    done = run.done_mask
    lo, hi = (float(values[done].min()), float(values[done].max())) if done.any() else (0.0, 1.0)
    scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    return np.clip((scaled * (steps - 1)).round(), 0, steps - 1).astype(np.int64)


# --- the evented state ---------------------------------------------------------------------------------
class SessionEvents(SignalGroup):
    """One event per field, emitted after it changed, with (new value, old value)."""

    dataset = Signal(object, object)
    model = Signal(object, object)
    weights = Signal(object, object)
    layer = Signal(object, object)
    layers = Signal(object, object)
    device = Signal(object, object)
    run = Signal(object, object)
    projection = Signal(object, object)
    perplexity = Signal(object, object)
    seed = Signal(object, object)
    layout_method = Signal(object, object)
    layout = Signal(object, object)
    selection = Signal(object, object)
    hidden_classes = Signal(object, object)
    colour_channel = Signal(object, object)
    neighbour_k = Signal(object, object)
    focus_requested = Signal(int)  # not a field: centre the map on this item


SETTINGS = ("dataset", "model", "weights", "layer", "layers", "device", "projection", "perplexity", "seed")


class _Field:
    """A session attribute whose assignment emits `session.events.<name>` when the value changed."""

    def __init__(self, default: Any, convert: Callable[[Any], Any] | None = None):
        self.default, self.convert = default, convert

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, obj, owner=None):
        return self if obj is None else obj.__dict__[self.name]

    def __set__(self, obj, value) -> None:
        obj._assign(self.name, value if self.convert is None or value is None else self.convert(value))


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) or isinstance(a, Run) or isinstance(b, Run):
        return a is b  # arrays and runs are replaced, never edited in place: identity is the change
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return a is b


class Session:
    """What the explorer shows. Set fields by assignment, `update(...)` or the methods below."""

    dataset = _Field(DEFAULT_DATASET, str)  # a folder (class sub-folders are labels) or demo:NAME
    model = _Field(DEFAULT_MODEL, str)  # zoo name or timm:NAME
    weights = _Field(None, str)  # None: pretrained/bundled; "random"; or a state-dict path
    layer = _Field(None, str)  # None: the model's default layer
    layers = _Field((), tuple)  # LayerInfo of the loaded model, empty until it is loaded
    device = _Field("", str)
    run = _Field(None)  # core.run.store.Run on display
    projection = _Field("tsne", str)  # "pca" | "tsne"
    perplexity = _Field(30.0, float)
    seed = _Field(0, int)
    layout = _Field(None, lambda xy: np.asarray(xy, np.float32))  # (n, 2) float32, NaN: no features
    layout_method = _Field(None, str)  # "pca", "tsne", "tsne-partial" (an animation frame)
    selection = _Field([], lambda items: [int(i) for i in items])
    hidden_classes = _Field(frozenset(), frozenset)  # label codes not drawn
    colour_channel = _Field(None, int)  # colour the map by this channel's strongest activation
    neighbour_k = _Field(12, int)

    def __init__(self, **settings):
        self.events = SessionEvents()
        for name, field in vars(Session).items():  # each session owns its values (no shared lists)
            if isinstance(field, _Field):
                self.__dict__[name] = copy(field.default)
        self._queued: list[tuple[str, Any, Any]] | None = None
        self.labels: np.ndarray = np.array([], dtype=object)  # (n,) label or "" per row of the run
        self.classes: list[str] = []  # sorted distinct labels
        self.label_codes: np.ndarray = np.zeros(0, np.int32)  # (n,) index into classes, -1 unlabelled
        self._colour_cache: tuple[Run, int, np.ndarray] | None = None
        self.update(**settings)

    # --- assignment and events ------------------------------------------------------------------
    def _assign(self, name: str, value) -> None:
        old = getattr(self, name)
        if _same(old, value):
            return
        self.__dict__[name] = value
        if self._queued is None:
            getattr(self.events, name).emit(value, old)
            return
        for i, (queued, _, first_old) in enumerate(self._queued):
            if queued == name:  # set twice in one batch: one event, from the first old value
                self._queued[i] = (name, value, first_old)
                return
        self._queued.append((name, value, old))

    @contextmanager
    def changes(self) -> Iterator[Session]:
        """Set several fields; their events follow once all are set, in the order they were set."""
        if self._queued is not None:  # nested: the outer batch announces
            yield self
            return
        self._queued = []
        try:
            yield self
        finally:
            queued, self._queued = self._queued, None
            for name, value, old in queued:
                if not _same(old, getattr(self, name)):
                    getattr(self.events, name).emit(getattr(self, name), old)

    def update(self, **changes) -> None:
        """Set several fields at once, e.g. update(model="resnet18", weights=None, layer=None)."""
        unknown = [k for k in changes if not isinstance(getattr(type(self), k, None), _Field)]
        if unknown:
            raise TypeError(f"Session has no field {', '.join(unknown)}")
        with self.changes():
            for key, value in changes.items():
                setattr(self, key, value)

    # --- results --------------------------------------------------------------------------------
    def set_run(self, run: Run) -> None:
        """Show `run`: its labels, its layer; no layout yet, nothing selected, hidden or coloured."""
        labels = np.array(["" if r.label is None else r.label for r in run.rows], dtype=object)
        self.labels = labels
        self.classes = sorted({label for label in labels if label})
        codes = {c: i for i, c in enumerate(self.classes)}
        self.label_codes = np.array([codes.get(label, -1) for label in labels], np.int32)
        self._colour_cache = None
        with self.changes():
            self.run = run
            self.layer = run.layer
            self.layout_method = None
            self.layout = None
            self.selection = []
            self.hidden_classes = frozenset()
            self.colour_channel = None

    def set_layout(self, layout: np.ndarray, method: str) -> None:
        """Show 2-D coordinates, (n, 2), made by `method` ("tsne-partial" while t-SNE animates)."""
        with self.changes():
            self.layout_method = method
            self.layout = layout

    # --- what the user picked -------------------------------------------------------------------
    def select(self, indices, *, focus: bool = False) -> None:
        """Select items; with focus and one item, ask the map to centre on it."""
        self.selection = indices
        if focus and len(self.selection) == 1:
            self.events.focus_requested.emit(self.selection[0])

    def toggle_class(self, code: int) -> None:
        self.hidden_classes = self.hidden_classes ^ {code}

    def set_colour_channel(self, channel: int | None, codes: np.ndarray | None = None) -> None:
        """Colour the map by a channel (None: by class). `codes`: channel_colour_codes(run, channel),
        computed off the GUI thread; without them they are computed on first use."""
        if channel is not None and codes is not None and self.run is not None:
            self._colour_cache = (self.run, int(channel), np.asarray(codes, np.int64))
        self.colour_channel = channel

    # --- derived --------------------------------------------------------------------------------
    def colour_scheme(self) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """(codes (n,) int64, colour table): by class, or by a channel's max activation on a ramp."""
        channel, run = self.colour_channel, self.run
        if channel is not None and run is not None:
            cache = self._colour_cache
            if cache is None or cache[0] is not run or cache[1] != channel:
                cache = self._colour_cache = (run, channel, channel_colour_codes(run, channel))
            return cache[2], ramp()
        k = len(self.classes)
        codes = np.where(self.label_codes < 0, k, self.label_codes).astype(np.int64)
        return codes, [class_colour(c) for c in range(k)] + [UNLABELLED]

    @property
    def visible_mask(self) -> np.ndarray:
        """(n,) bool: has coordinates and its class is not hidden."""
        if self.layout is None:
            return np.zeros(0, bool)
        mask = np.isfinite(self.layout[:, 0])
        if self.hidden_classes:
            mask &= ~np.isin(self.label_codes, list(self.hidden_classes))
        return mask

    def describe(self, index: int) -> str:
        """One line naming item `index`: number, path and label."""
        if self.run is None:
            return ""
        label = self.labels[index] or "no label"
        return f"#{index} {self.run.rows[index].path} ({label})"
