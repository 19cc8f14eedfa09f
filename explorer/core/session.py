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

from copy import copy
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np
from psygnal import Signal, SignalGroup

from .analysis.colours import PALETTE, RAMP_STEPS, UNLABELLED, class_colour, ramp  # noqa: F401
from .model.zoo import DEFAULT_MODEL
from .run.store import Run

DEFAULT_DATASET = "demo:digits"

# colours of the map and legend live in analysis.colours (pure data); re-exported here


def channel_colour_codes(run: Run, channel: int, steps: int = RAMP_STEPS, measure: str | None = "auto") -> np.ndarray:
    """(n,) int64 ramp step of each image by the channel's value under `measure` (as in the Neurons tab:
    "auto" is the spatial mean where the layer's maxima saturate, else the spatial max): lowest embedded
    0, highest steps-1.

    Reads one column of the run (a strided read of the whole file): call it once per channel, off the
    GUI thread, and hand the codes to `Session.set_colour_channel`.
    """
    from .analysis.measures import colour_codes  # one definition of the ramp, shared with the Neurons tab

    return colour_codes(run, channel, measure, steps)


class RowFilter:
    """Only some rows drawn: `mask` (n,) bool, and what it means (shown over the map)."""

    def __init__(self, mask: np.ndarray, title: str):
        self.mask = np.asarray(mask, bool)
        self.title = title


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
    layout_note = Signal(object, object)
    layout = Signal(object, object)
    selection = Signal(object, object)
    hidden_classes = Signal(object, object)
    row_filter = Signal(object, object)
    colour_channel = Signal(object, object)
    neighbour_k = Signal(object, object)
    neighbours = Signal(object, object)
    search = Signal(object, object)
    matches = Signal(object, object)
    colour_by = Signal(object, object)
    selection_mode = Signal(object, object)
    named_selections = Signal(object, object)
    point_size = Signal(object, object)
    point_opacity = Signal(object, object)
    density_view = Signal(object, object)
    variant_path = Signal(object, object)
    focus_requested = Signal(int)  # not a field: centre the map on this item


SELECTION_MODES = ("replace", "add", "intersect", "subtract")
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
    projection = _Field("tsne", str)  # "pca" | "tsne" | "umap"
    perplexity = _Field(30.0, float)
    seed = _Field(0, int)
    layout = _Field(None, lambda xy: np.asarray(xy, np.float32))  # (n, 2) float32, NaN: no features
    layout_method = _Field(None, str)  # "pca", "tsne", "umap", "tsne-partial" (an animation frame)
    layout_note = _Field("", str)  # what the map's viewer is told, e.g. "t-SNE fitted on 50,000 of 1,000,000 ..."
    selection = _Field([], lambda items: [int(i) for i in items])
    hidden_classes = _Field(frozenset(), frozenset)  # label codes not drawn
    row_filter = _Field(None)  # RowFilter: only these rows are drawn (e.g. misclassified only); None: all
    colour_channel = _Field(None, int)  # colour the map by this channel (by colour_measure)
    neighbour_k = _Field(12, int)
    neighbours = _Field([], lambda items: [int(i) for i in items])  # the selection's k nearest, as listed
    search = _Field("", str)  # the file-name search on display ("" none)
    matches = _Field(None, lambda ix: np.asarray(ix, np.int64))  # (m,) items matching it; None: no search
    colour_by = _Field(None)  # analysis.metadata.Colouring; None: by label (a channel wins over both)
    selection_mode = _Field("replace", str)  # what a click or region does: one of SELECTION_MODES
    named_selections = _Field({}, dict)  # name -> tuple of item indices (of this run's rows)
    point_size = _Field(7, int)
    point_opacity = _Field(0.9, float)
    density_view = _Field(False, bool)  # draw the density image at any point count
    variant_path = _Field(None)  # analysis.invariance.MapPath: a sweep's variants drawn in the map; None: none

    def __init__(self, **settings):
        self.events = SessionEvents()
        for name, field in vars(Session).items():  # each session owns its values (no shared lists)
            if isinstance(field, _Field):
                self.__dict__[name] = copy(field.default)
        self._queued: list[tuple[str, Any, Any]] | None = None
        self.labels: np.ndarray = np.array([], dtype=object)  # (n,) label or "" per row of the run
        self.classes: list[str] = []  # sorted distinct labels
        self.label_codes: np.ndarray = np.zeros(0, np.int32)  # (n,) index into classes, -1 unlabelled
        self._colour_cache: tuple[Run, int, str, np.ndarray] | None = None
        self.colour_measure = "auto"  # the measure the channel colouring ranks by (analysis.measures)
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
        same_rows = self.run is not None and _paths(self.run) == _paths(run)  # a new layer of the same images
        with self.changes():
            self.run = run
            self.layer = run.layer
            self.layout_method = None
            self.layout_note = ""
            self.layout = None
            self.selection = []
            self.hidden_classes = frozenset()
            self.row_filter = None
            self.colour_channel = None
            self.neighbours = []
            self.variant_path = None  # placed into the previous run's map
            if not same_rows:  # kept for a re-embedding of the same images: their indices still hold
                self.colour_by = None
                self.named_selections = {}
                self.search = ""
                self.matches = None

    def set_layout(self, layout: np.ndarray, method: str, note: str = "") -> None:
        """Show 2-D coordinates, (n, 2), made by `method` ("tsne-partial" while t-SNE animates); `note` is
        what the viewer is told about the map (t-SNE fitted on a sample, say)."""
        with self.changes():
            self.layout_method = method
            self.layout_note = note
            self.layout = layout
            self.variant_path = None  # its points were placed into the previous map

    # --- what the user picked -------------------------------------------------------------------
    def select(self, indices, *, focus: bool = False, mode: str = "replace") -> None:
        """Select items (mode: replace, add, intersect or subtract them from the selection); with focus and
        one item, ask the map to centre on it."""
        self.selection = combine_selection(self.selection, indices, mode)
        if focus and len(self.selection) == 1:
            self.events.focus_requested.emit(self.selection[0])

    def save_selection(self, name: str) -> None:
        name = name.strip()
        if not name:
            raise ValueError("A selection needs a name")
        self.named_selections = {**self.named_selections, name: tuple(self.selection)}

    def recall_selection(self, name: str, mode: str = "replace") -> None:
        self.select(self.named_selections[name], mode=mode)

    def forget_selection(self, name: str) -> None:
        self.named_selections = {k: v for k, v in self.named_selections.items() if k != name}

    def set_search(self, query: str, *, regex: bool = False, whole_path: bool = False) -> int:
        """Search the file names (or relative paths) for `query`; returns the count of matches.
        A bad regular expression raises metadata.MetadataError and clears the matches."""
        from .analysis.metadata import search_paths

        query = query.strip()
        if not query or self.run is None:
            self.update(search=query, matches=None)
            return 0
        try:
            found = search_paths(_paths(self.run), query, regex=regex, whole_path=whole_path)
        except ValueError:
            self.update(search=query, matches=None)
            raise
        self.update(search=query, matches=found)
        return len(found)

    def set_colour_by(self, colouring) -> None:
        """Colour the map by metadata (an analysis.metadata.Colouring), or by label with None."""
        with self.changes():
            if colouring is not None:
                self.colour_channel = None
            self.colour_by = colouring

    def toggle_class(self, code: int) -> None:
        self.hidden_classes = self.hidden_classes ^ {code}

    def set_colour_channel(self, channel: int | None, codes: np.ndarray | None = None,
                           measure: str | None = "auto") -> None:
        """Colour the map by a channel (None: by class) under `measure` ("auto", "max" or "mean", as the
        Neurons tab shows it). `codes`: channel_colour_codes(run, channel, measure=measure), computed off
        the GUI thread; without them they are computed on first use."""
        measure = "auto" if measure is None else str(measure)
        self.colour_measure = measure
        if channel is not None and codes is not None and self.run is not None:
            self._colour_cache = (self.run, int(channel), measure, np.asarray(codes, np.int64))
        with self.changes():
            if channel is not None:
                self.colour_by = None
            self.colour_channel = channel

    # --- derived --------------------------------------------------------------------------------
    def colour_scheme(self) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """(codes (n,) int64, colour table): by class, metadata, or a channel's measure on a ramp."""
        channel, run = self.colour_channel, self.run
        if channel is not None and run is not None:
            cache = self._colour_cache
            measure = self.colour_measure
            if cache is None or cache[0] is not run or cache[1] != channel or cache[2] != measure:
                cache = self._colour_cache = (run, channel, measure, channel_colour_codes(run, channel,
                                                                                        measure=measure))
            return cache[3], ramp()
        if self.colour_by is not None:
            return self.colour_by.codes, self.colour_by.table
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
        if self.row_filter is not None and len(self.row_filter.mask) == len(mask):
            mask &= self.row_filter.mask
        return mask

    def describe(self, index: int) -> str:
        """One line naming item `index`: number, path and label."""
        if self.run is None:
            return ""
        label = self.labels[index] or "no label"
        return f"#{index} {self.run.rows[index].path} ({label})"


def _paths(run) -> list[str]:
    return [r.path for r in run.rows]


def combine_selection(old, new, mode: str = "replace") -> list[int]:
    """glue's selection operations: the new region replaces, adds to, intersects or is taken from the
    old selection (sorted, no repeats, except that replace keeps the order it was given)."""
    new = [int(i) for i in new]
    if mode == "replace":
        return list(dict.fromkeys(new))
    a, b = set(int(i) for i in old), set(new)
    if mode == "add":
        return sorted(a | b)
    if mode == "intersect":
        return sorted(a & b)
    if mode == "subtract":
        return sorted(a - b)
    raise ValueError(f"Unknown selection mode {mode!r} (expected {', '.join(SELECTION_MODES)})")
