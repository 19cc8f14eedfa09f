"""ExplorerState: the one object every view reads and reacts to.

Controls change settings; jobs put results here; views redraw from the signals.
A click on a point only sets `selection`: the gallery, the scatter highlight and
the status bar all follow that one signal, so views never call each other.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..core.run.store import Run


class ExplorerState(QObject):
    settings_changed = Signal()  # dataset / model / weights / layer / projection settings
    run_changed = Signal()  # a new (or reopened) run: features, labels, paths
    layout_changed = Signal()  # the 2-D coordinates moved (t-SNE animates this)
    selection_changed = Signal()
    focus_requested = Signal(int)  # centre the scatter on this item
    hidden_classes_changed = Signal()
    colour_changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.dataset = "demo:digits"
        self.model = "efficientnet_lite0"
        self.weights: str | None = None
        self.layer: str | None = None
        self.layers: list = []  # LayerInfo of the current model
        self.device = ""
        self.projection = "tsne"
        self.perplexity = 30.0
        self.seed = 0
        self.run: Run | None = None
        self.labels: np.ndarray = np.array([], dtype=object)  # (n,) label or ""
        self.classes: list[str] = []
        self.label_codes: np.ndarray = np.zeros(0, np.int32)  # (n,) index into classes, -1 unlabelled
        self.layout: np.ndarray | None = None  # (n, 2) float32, NaN for images without features
        self.layout_method: str | None = None
        self.selection: list[int] = []
        self.hidden_classes: set[int] = set()
        self.colour_channel: int | None = None  # colour the map by this channel's activation
        self.neighbour_k = 12

    # --- settings -----------------------------------------------------------------------------
    def update_settings(self, **changes) -> None:
        changed = False
        for key, value in changes.items():
            if getattr(self, key) != value:
                setattr(self, key, value)
                changed = True
        if changed:
            self.settings_changed.emit()

    # --- results from jobs ----------------------------------------------------------------------
    def set_run(self, run: Run) -> None:
        self.run = run
        labels = np.array(["" if r.label is None else r.label for r in run.rows], dtype=object)
        self.labels = labels
        self.classes = sorted({l for l in labels if l})
        codes = {c: i for i, c in enumerate(self.classes)}
        self.label_codes = np.array([codes.get(l, -1) for l in labels], np.int32)
        self.layer = run.manifest["layer"]
        self.layout = None
        self.layout_method = None
        self.selection = []
        self.hidden_classes = set()
        self.colour_channel = None
        self.run_changed.emit()
        self.selection_changed.emit()

    def set_layout(self, layout: np.ndarray, method: str) -> None:
        self.layout = np.asarray(layout, np.float32)
        self.layout_method = method
        self.layout_changed.emit()

    # --- selection --------------------------------------------------------------------------------
    def set_selection(self, indices, *, focus: bool = False) -> None:
        indices = [int(i) for i in indices]
        if indices != self.selection:
            self.selection = indices
            self.selection_changed.emit()
        if focus and len(indices) == 1:
            self.focus_requested.emit(indices[0])

    def toggle_class(self, code: int) -> None:
        self.hidden_classes ^= {code}
        self.hidden_classes_changed.emit()

    def set_colour_channel(self, channel: int | None) -> None:
        if channel != self.colour_channel:
            self.colour_channel = channel
            self.colour_changed.emit()

    def colour_scheme(self) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """(codes (n,), colour table): by class, or by a channel's max activation on a ramp."""
        from .colours import RAMP_STEPS, UNLABELLED, class_colour, ramp

        if self.colour_channel is not None and self.run is not None:
            values = np.asarray(self.run.channel_max[:, self.colour_channel], np.float32)
            done = self.run.done_mask
            lo, hi = (float(values[done].min()), float(values[done].max())) if done.any() else (0.0, 1.0)
            scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
            return np.clip((scaled * (RAMP_STEPS - 1)).round(), 0, RAMP_STEPS - 1).astype(np.int64), ramp()
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
        run = self.run
        if run is None:
            return ""
        label = self.labels[index] or "no label"
        return f"#{index} {run.rows[index].path} ({label})"
