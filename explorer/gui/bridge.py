"""Binds Qt views to the core Session: its psygnal events re-emitted as Qt signals.

The Session (explorer.core.session) is the one source of truth; views read and set it
directly and react to these signals. Going through Qt signals buys two things psygnal
alone does not: a change made on a worker thread reaches the views on the GUI thread
(queued), and a destroyed widget is disconnected by Qt itself.

Views never call each other: a click on a point only sets `session.selection`; the
gallery, the neuron views, the scatter highlight and the status bar follow
`selection_changed`.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ..core.session import SETTINGS, Session


class SessionBridge(QObject):
    settings_changed = Signal()  # dataset, model, weights, layer, layers, device, projection settings
    run_changed = Signal()  # a new (or reopened) run: features, labels, paths
    layout_changed = Signal()  # the 2-D coordinates moved (t-SNE animates this)
    selection_changed = Signal()
    focus_requested = Signal(int)  # centre the scatter on this item
    hidden_classes_changed = Signal()
    colour_changed = Signal()  # colour by class, or by a channel
    neighbour_k_changed = Signal(int)
    neighbours_changed = Signal()  # the selection's k nearest, as the gallery lists them
    matches_changed = Signal()  # the file-name search and its matches
    selection_mode_changed = Signal()
    named_selections_changed = Signal()
    map_style_changed = Signal()  # point size, opacity, density view

    def __init__(self, session: Session, parent=None):
        super().__init__(parent)
        self.session = session
        events = session.events
        for name in SETTINGS:
            getattr(events, name).connect(self._settings)
        events.run.connect(self._run)
        events.layout.connect(self._layout)
        events.selection.connect(self._selection)
        events.focus_requested.connect(self._focus)
        events.hidden_classes.connect(self._hidden_classes)
        events.row_filter.connect(self._hidden_classes)  # a row filter hides points as hidden classes do
        events.colour_channel.connect(self._colour)
        events.colour_by.connect(self._colour)
        events.neighbours.connect(self._neighbours)
        events.search.connect(self._matches)
        events.matches.connect(self._matches)
        events.selection_mode.connect(self._selection_mode)
        events.named_selections.connect(self._named_selections)
        for name in ("point_size", "point_opacity", "density_view"):
            getattr(events, name).connect(self._map_style)
        events.neighbour_k.connect(self._neighbour_k)

    # psygnal holds bound methods weakly: the connections end with the bridge
    def _settings(self, *_):
        self.settings_changed.emit()

    def _run(self, *_):
        self.run_changed.emit()

    def _layout(self, *_):
        self.layout_changed.emit()

    def _selection(self, *_):
        self.selection_changed.emit()

    def _focus(self, index: int):
        self.focus_requested.emit(index)

    def _hidden_classes(self, *_):
        self.hidden_classes_changed.emit()

    def _colour(self, *_):
        self.colour_changed.emit()

    def _neighbours(self, *_):
        self.neighbours_changed.emit()

    def _selection_mode(self, *_):
        self.selection_mode_changed.emit()

    def _named_selections(self, *_):
        self.named_selections_changed.emit()

    def _matches(self, *_):
        self.matches_changed.emit()

    def _map_style(self, *_):
        self.map_style_changed.emit()

    def _neighbour_k(self, k, *_):
        self.neighbour_k_changed.emit(k)
