"""The Channels tab: every channel of the layer, an image's strongest channels, a channel's top patches.

Channel statistics, patches and colouring are computed in the analysis lane from the run's stored
arrays; the channel table is a model over four arrays, so a layer of 25k channels costs what the
visible rows cost. One measure (core/analysis/measures.py) ranks, labels and colours everything, and
the tab says which: the mean over the map where a capped activation (ReLU6) saturates the maxima.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QScrollArea, QSizePolicy, QSpinBox, QSplitter,
                               QStackedWidget, QTableView, QVBoxLayout, QWidget)

from ..bridge import SessionBridge
from ..jobs import JobRunner
from ..thumbnails import pil_to_qimage, thumbnail_grid
from .atlas_view import AtlasView
from .channel_table import SATURATED, ChannelTable
from .featurevis_panel import VisualisationPanel
from .overlay import OverlayView, overlay_caption
from .standout_view import StandoutView
from ..widgets.labels import WrappedLabel

PATCH = 88
MEASURE_NAMES = {"max": "strongest unit (max)", "mean": "mean over the map"}


def wrapped(text: str = "") -> QLabel:
    return WrappedLabel(text)


class ChannelsView(QWidget):
    """Channel table, the selected image's strongest channels, a channel's patches and activation map.

    Rankings, values and colours use one measure (`measure_combo`): auto (the mean over the map where
    the layer's maxima saturate, else the strongest unit), the strongest unit, or the mean over the map.
    """

    overlay_requested = Signal(int, int)  # item index, channel
    patches_shown = Signal()
    table_filled = Signal()

    def __init__(self, bridge: SessionBridge, jobs: JobRunner, parent=None):
        super().__init__(parent)
        self.bridge, self.jobs = bridge, jobs  # kept alive as long as the view
        self.session = bridge.session
        self.lane = jobs.analysis
        self.channel: int | None = None
        self.patches: list = []  # core Patch objects on display
        self._stats_for = None  # the run whose channel statistics are computed (or on their way)
        self.summary = None  # core ChannelSummary of the run on display, once computed
        self.loaded = None  # the run's model (core LoadedModel), for visualisations

        self.table_model = ChannelTable(self)
        self.table = QTableView()
        self.table.setModel(self.table_model)
        header = self.table.horizontalHeader()
        # widths from the font, once: ResizeToContents measures every row (1280 of them) at each refill,
        # on the GUI thread (~0.4 s for 512 channels)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        fm = self.table.fontMetrics()
        for column, sample in enumerate(("00000", "-0.0000e+00", "-0.0000e+00", "100%")):
            text = max(sample, self.table_model.HEADERS[column], key=fm.horizontalAdvance)
            header.resizeSection(column, fm.horizontalAdvance(text) + 18)  # + padding and the sort arrow
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(30)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setSortingEnabled(True)
        self.measure_combo = QComboBox()
        self.measure_combo.addItem("auto", "auto")  # short texts: the note below spells the measure out
        self.measure_combo.addItem("max", "max")
        self.measure_combo.addItem("mean", "mean")
        self.measure_combo.setToolTip("What ranks channels and images, and colours the map: the channel's "
                                      "strongest unit, or its mean over the map. Auto uses the mean where the "
                                      "layer's activation is capped (ReLU6: many maxima read 6.00 and tie).")
        self.measure_note = wrapped()
        self.measure_note.setStyleSheet("color: #555;")
        self.strongest_label = wrapped("Strongest channels in the selected image")
        self.strongest = QListWidget()
        self.strongest.setFlow(QListWidget.Flow.LeftToRight)
        self.strongest.setWrapping(True)
        self.strongest.setMaximumHeight(64)
        self.k_spin = QSpinBox(minimum=1, maximum=64, value=12)
        self.colour_button = QPushButton("Colour map")
        self.colour_button.setCheckable(True)
        self.colour_button.setToolTip("Colour the map by this channel in each image (by the measure above): "
                                      "dark blue = low, yellow = high")
        self.title = wrapped("Choose a channel")
        self.patch_list = thumbnail_grid(PATCH)
        self.overlay = OverlayView()  # true aspect, colour scale, caption, on/off and opacity
        self.overlay.setMinimumHeight(120)
        self.overlay.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.atlas = AtlasView()  # the layer's channels as a grid of top patches and visualisations
        self.standout = StandoutView(jobs)  # why the selected image sits where it does
        self.visual = VisualisationPanel(jobs)  # the chosen channel's feature visualisation

        self.table.setMinimumHeight(80)
        self.patch_list.setMinimumHeight(PATCH + 30)
        self.image_combo = QComboBox()
        self.image_combo.addItem("why it sits here", "standout")
        self.image_combo.addItem("its strongest channels", "strongest")
        self.image_combo.setToolTip("For the selected image: the channels where it stands out from the run (z), "
                                    "or the channels that fire most in it")
        strongest = QWidget()
        sl = QVBoxLayout(strongest)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.strongest_label)
        sl.addWidget(self.strongest)
        self.image_stack = QStackedWidget()
        self.image_stack.addWidget(self.standout)
        self.image_stack.addWidget(strongest)
        self.view_combo = QComboBox()
        self.view_combo.addItem("atlas", "atlas")
        self.view_combo.addItem("table", "table")
        self.view_combo.setToolTip("Every channel of the layer: a grid of each one's top patch (and visualisation), "
                                   "or a table of numbers (click a header to sort)")
        self.channel_stack = QStackedWidget()
        self.channel_stack.addWidget(self.atlas)
        self.channel_stack.addWidget(self.table)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        irow = QHBoxLayout()
        irow.addWidget(QLabel("Image:"))
        irow.addWidget(self.image_combo, 1)
        tl.addLayout(irow)
        tl.addWidget(self.image_stack)
        crow = QHBoxLayout()
        crow.addWidget(QLabel("All channels:"))
        crow.addWidget(self.view_combo, 1)
        tl.addLayout(crow)
        tl.addWidget(self.channel_stack, 1)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.title)  # a line of its own: the channel, the measure, the count and any missing files
        row = QHBoxLayout()
        row.addWidget(QLabel("top"))
        row.addWidget(self.k_spin)
        row.addStretch(1)
        row.addWidget(self.colour_button)
        bl.addLayout(row)
        bl.addWidget(self.patch_list, 2)
        bl.addWidget(self.visual)
        bl.addWidget(self.overlay, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setSizes([560, 440])  # the atlas is the tab's main view
        split.setChildrenCollapsible(False)
        content = QWidget()  # in a scroll area: a short dock scrolls instead of cutting lines off
        lay = QVBoxLayout(content)
        lay.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        mrow = QHBoxLayout()  # above the splitter: its wrapped note keeps the height it needs
        mrow.addWidget(QLabel("Rank by"))
        mrow.addWidget(self.measure_combo, 1)
        lay.addLayout(mrow)
        lay.addWidget(self.measure_note)
        lay.addWidget(split, 1)

        bridge.run_changed.connect(self._run_changed)
        bridge.selection_changed.connect(self._selection_changed)
        self.table.selectionModel().selectionChanged.connect(self._table_clicked)
        self.strongest.itemClicked.connect(lambda item: self.choose(int(item.data(Qt.ItemDataRole.UserRole))))
        self.patch_list.itemClicked.connect(self._patch_clicked)
        self.k_spin.valueChanged.connect(lambda _: self.choose(self.channel) if self.channel is not None else None)
        self.colour_button.toggled.connect(self._colour_toggled)
        bridge.colour_changed.connect(self._colouring_changed)
        self.measure_combo.activated.connect(self._measure_changed)
        self.image_combo.activated.connect(lambda i: self.image_stack.setCurrentIndex(i))
        self.view_combo.activated.connect(lambda i: self.channel_stack.setCurrentIndex(i))
        self.atlas.channel_clicked.connect(self.choose)
        self.atlas.order_changed.connect(lambda _: self._order_atlas())
        self.standout.channel_clicked.connect(self.choose)
        self.standout.visualise_requested.connect(self.visual.start)
        self.visual.visualised.connect(self._visualised)
        self.visual.busy.connect(self.standout.set_busy)

    # --- the atlas and visualisations ---------------------------------------------------------------
    def set_model(self, loaded) -> None:
        """The loaded model of the run (core LoadedModel): what Visualise optimises through."""
        self.loaded = loaded
        run = self.session.run
        self.visual.set_target(loaded, run.layer if run is not None else None)
        self.atlas.model.set_lookup(self.visual.lookup_function())
        if self.channel is not None:
            self.visual.show_channel(self.channel)

    def _visualised(self, channel: int, image) -> None:
        self.atlas.model.set_visualisation(channel, image)
        self.standout.set_visualisation(channel, image)

    def _fill_atlas(self, run) -> None:
        """Each channel's top image by the measure (one pass over the run), then the chosen order."""
        from ...core.analysis.atlas import channel_tops

        measure, cap = self.measure(), self.cap

        def done(tops):
            if run is self.session.run:
                self.atlas.model.set_tops(run, tops, self.visual.lookup_function())
                self._order_atlas()

        self.lane.start("Atlas", lambda: channel_tops(run, measure, cap=cap), done, key="atlas")

    def _order_atlas(self) -> None:
        """Sort the atlas (analysis lane): by mean activation, selectivity, or the mean over the selection."""
        from ...core.analysis import atlas

        run, key, measure = self.session.run, self.atlas.current_order(), self.measure()
        if run is None or self.atlas.model.tops is None:
            return
        selection = np.array([i for i in self.session.selection if run.done_mask[i]], np.int64)

        def work():  # -> (order, second lines, tooltips, note)
            if key == "selection" and not len(selection):
                return None
            if key == "selectivity":
                share, top, labels = atlas.selectivity(run, measure)
                if len(labels) >= 2:
                    tips = [f"{v:.0%} of its per-label mean activation goes to '{labels[t]}'" if t >= 0 else
                            "silent on every label" for v, t in zip(share, top)]
                    return atlas.order(share), [f"{v:.0%}" for v in share], tips, ""
            scores = atlas.mean_activation(run, measure, selection if key == "selection" else None)
            where = f"over the {len(selection)} selected images" if key == "selection" else "over the run"
            note = "Selectivity needs two labels or more: sorted by mean activation." if key == "selectivity" else ""
            return (atlas.order(scores), [f"{v:.3g}" for v in scores],
                    [f"mean {measure} {v:.4g} {where}" for v in scores], note)

        def done(out):
            if run is not self.session.run or self.atlas.current_order() != key:
                return
            if out is None:
                self.atlas.set_note("Select images on the map to sort by how much each channel fires on them.")
                return
            self.atlas.set_note(out[3])
            self.atlas.model.set_order(*out[:3])
            if self.channel is not None:
                self.atlas.select_channel(self.channel)

        self.lane.start("Sorting the atlas", work, done, key="atlas-order")

    # --- the measure --------------------------------------------------------------------------------
    @property
    def cap(self) -> float | None | bool:
        """The layer's cap once the statistics know it (None: no cap); False while they are computed."""
        return self.summary.cap if self.summary is not None else False

    def measure(self) -> str:
        """The measure on display: 'max' or 'mean' (auto resolved with the layer's cap, when known)."""
        chosen = self.measure_combo.currentData()
        if chosen != "auto":
            return chosen
        return "max" if self.summary is None or self.summary.cap is None else "mean"

    def _describe_measure(self) -> None:
        run, measure = self.session.run, self.measure()
        self.measure_combo.setItemText(0, f"auto ({measure})" if self.summary is not None else "auto")
        if run is None or self.summary is None:
            self.measure_note.setText("")
            return
        cap, n = self.summary.cap, int(self.summary.saturated.sum())
        if cap is None:
            note = f"Values: {MEASURE_NAMES[measure]}; {run.layer} does not saturate."
        else:
            note = (f"{run.layer} is capped at {cap:g}: {n} channels saturated (orange)"
                    + (", their maxima tie: values are means over the map." if measure == "mean" else
                       "; ties at the cap are ordered by the mean."))
        self.measure_note.setText(note)
        self.measure_note.setToolTip(f"Saturated: at the cap in {SATURATED:.0%} or more of the images. "
                                     f"Values shown: each channel's {MEASURE_NAMES[measure]} in an image.")
        self.strongest_label.setText(f"Strongest channels in this image, by {measure}")

    def _measure_changed(self, *_):
        self._describe_measure()
        if self.session.run is not None and self.summary is not None:
            self._fill_atlas(self.session.run)
        self._selection_changed()
        if self.channel is not None:
            self.choose(self.channel)

    # --- channel table ------------------------------------------------------------------------------
    def _run_changed(self):
        run = self.session.run
        self.channel = None
        self.summary = None
        self.patch_list.clear()
        self.overlay.clear()
        self.colour_button.setChecked(False)
        self.table_model.set_stats(np.zeros(0), np.zeros(0))
        self._stats_for = None
        self._describe_measure()
        self.atlas.model.set_tops(None, None, None)
        self.atlas.set_note("")
        self.standout.clear()
        self.visual.set_target(self.loaded, run.layer if run is not None else None)
        if run is None:
            return
        self._compute_stats(run)
        self._selection_changed()

    def _compute_stats(self, run):
        self._stats_for = run
        self.title.setText("Computing channel statistics…")

        def stats():
            from ...core.analysis.measures import channel_summary

            return channel_summary(run)

        def cancelled():  # nothing will come: the next selection computes them again
            if self._stats_for is run and self.table_model.rowCount() == 0:
                self._stats_for = None
                self.title.setText("Channel statistics were cancelled; select an image to compute them again.")

        self.lane.start("Channel statistics", stats, lambda out: self._fill_table(run, out), key="channel-stats",
                        on_error=lambda message: self.title.setText(f"Cannot compute channel statistics: {message}"),
                        on_cancel=cancelled)

    def _fill_table(self, run, summary):
        if run is not self.session.run:
            return
        self.summary = summary
        self.table.setSortingEnabled(False)
        self.table_model.set_stats(summary.means, summary.maxima, summary.at_cap, summary.cap)
        self.table.setColumnHidden(3, summary.cap is None)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self._describe_measure()
        if self.channel is None:
            self.title.setText(f"{len(summary.means)} channels in {run.layer}: choose one in the atlas or table")
        self._fill_atlas(run)
        self._selection_changed()
        self.table_filled.emit()

    def _table_clicked(self, *_):
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.choose(self.table_model.channel_at(rows[0].row()))

    def _selection_changed(self):
        from ...core.analysis.patches import top_channels

        self.strongest.clear()
        run, sel = self.session.run, self.session.selection
        if run is not None and self._stats_for is not run:  # the last computation was cancelled
            self._compute_stats(run)
        if run is not None and self.atlas.current_order() == "selection":
            self._order_atlas()
        if run is None or len(sel) != 1 or not run.done_mask[sel[0]]:
            self.overlay.clear()  # one image's map under a multi-selection would claim to be theirs
            self.standout.clear("Select one image to see the channels where it stands out." if run else "")
            return
        self.standout.show_image(run, sel[0], self.visual.lookup_function())
        measure = self.measure()
        for c, value in top_channels(run, sel[0], 10, measure):
            share = self.table_model.at_cap(c)
            item = QListWidgetItem(f"{c} ({value:.2f})" + (" ⚠" if share >= SATURATED else ""))
            item.setData(Qt.ItemDataRole.UserRole, c)
            item.setToolTip(f"channel {c}: {MEASURE_NAMES[measure]} {value:.4g} in this image"
                            + (f"; saturated (at the cap in {share:.0%} of the images)" if share >= SATURATED else ""))
            self.strongest.addItem(item)
        if self.channel is not None:
            self.overlay_requested.emit(sel[0], self.channel)

    # --- a channel's patches ------------------------------------------------------------------------
    def choose(self, channel: int):
        from ...core.analysis.patches import MissingPatch, channel_patches, crop_patch

        run = self.session.run
        if run is None:
            return
        self.channel = channel
        self.visual.show_channel(channel)
        self.atlas.select_channel(channel)
        k, measure = self.k_spin.value(), self.measure()
        self.title.setText(self._title(channel, k, measure))
        if self.colour_button.isChecked():
            self._colour_by(channel)

        def work():
            ranked = channel_patches(run, channel, k, measure).ranked  # unreadable images come as MissingPatch
            images = []
            for i, p in enumerate(ranked):
                if isinstance(p, MissingPatch):
                    images.append(None)
                    continue
                try:
                    images.append(pil_to_qimage(crop_patch(run, p)))
                except Exception as exc:  # unreadable since it was ranked: say which file
                    ranked[i] = MissingPatch(p.index, p.path, p.label, p.activation, str(exc))
                    images.append(None)
            return channel, ranked, images

        def cancelled():  # the list holds another channel's patches, or nothing: say so
            if self.channel == channel and self.session.run is run:
                self.patch_list.clear()
                self.patches = []
                self.title.setText(f"Channel {channel}: finding its top images was cancelled")

        self.lane.start("Top patches", work, self._show_patches, key="patches",
                        on_error=lambda message: self.title.setText(f"Cannot show patches: {message}"),
                        on_cancel=cancelled)
        if len(self.session.selection) == 1:
            self.overlay_requested.emit(self.session.selection[0], channel)

    def _title(self, channel: int, k: int, measure: str) -> str:
        share = self.table_model.at_cap(channel)
        flag = (f" Saturated: at the cap in {share:.0%} of the images." if share >= SATURATED else
                f" At the cap in {share:.0%} of the images." if share > 0 else "")
        return (f"Channel {channel}: top {k} images by {MEASURE_NAMES[measure]} (patch = receptive field of the "
                f"strongest unit).{flag}")

    def _show_patches(self, out):
        channel, patches, images = out
        if channel != self.channel:
            return
        from ...core.analysis.patches import MissingPatch

        self.patch_list.clear()
        self.patches = patches
        missing = [p for p in patches if isinstance(p, MissingPatch)]
        if missing:
            names = ", ".join(p.path for p in missing[:2]) + (" ..." if len(missing) > 2 else "")
            self.title.setText(f"Channel {channel}: top {len(patches)} images; {len(missing)} cannot be read "
                               f"now ({names})")
        measure = MEASURE_NAMES[self.measure()]
        for p, image in zip(patches, images):
            gone = isinstance(p, MissingPatch)
            item = QListWidgetItem(f"{p.activation:.2f}\n{'missing' if gone else self.session.labels[p.index] or '-'}")
            item.setData(Qt.ItemDataRole.UserRole, p.index)
            item.setToolTip(p.reason if gone else f"{p.path}\n{measure} {p.activation:.4g} · box {list(p.box)} · "
                                                  f"unit {p.unit}")
            if image is not None:
                item.setIcon(QPixmap.fromImage(image).scaled(
                    PATCH, PATCH, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation))
            self.patch_list.addItem(item)
        self.patches_shown.emit()

    def _patch_clicked(self, item: QListWidgetItem):
        self.session.select([int(item.data(Qt.ItemDataRole.UserRole))], focus=True)

    def _colour_toggled(self, on: bool):
        if on and self.channel is not None:
            self._colour_by(self.channel)
        else:
            self.lane.cancel("colour")
            self.session.set_colour_channel(None)

    def _colouring_changed(self):
        """Another colouring replaced this channel's (the Map dock, a session file): the button says so."""
        if self.colour_button.isChecked() and self.session.colour_channel is None \
                and self.lane.status("colour").running is None:
            self.colour_button.blockSignals(True)
            self.colour_button.setChecked(False)
            self.colour_button.blockSignals(False)

    def _colour_by(self, channel: int):
        """Colour the map by a channel, by the measure on display: one column read in the analysis lane."""
        from ...core.analysis.measures import colour_codes
        from ...core.session import RAMP_STEPS

        run, measure = self.session.run, self.measure()

        def coloured(codes):
            if run is self.session.run and self.colour_button.isChecked() and self.channel == channel:
                self.session.set_colour_channel(channel, codes, measure=measure)

        def cancelled():  # the map stays as it is: the button must say so
            if run is self.session.run and self.channel == channel and self.colour_button.isChecked() \
                    and self.session.colour_channel != channel:
                self.colour_button.setChecked(False)

        self.lane.start("Colouring the map", lambda: colour_codes(run, channel, measure, RAMP_STEPS), coloured,
                        key="colour", on_cancel=cancelled)

    def show_overlay(self, index: int, channel: int, image, channel_map, box):
        run = self.session.run
        name = run.rows[index].path.rsplit("/", 1)[-1] if run is not None else f"#{index}"
        self.overlay.show_map(image, channel_map, box, overlay_caption(channel, run.layer if run else "", name))
