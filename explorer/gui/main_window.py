"""The main window: docks around the scatter, menus, and the pipeline of jobs.

The pipeline is core.pipeline's, as in the CLI: open_or_embed (list, cache lookup,
prepare, embed) then project_layout (PCA, then t-SNE, animated), each a generator run in
the pipeline lane; changing the layer re-embeds, changing perplexity only re-projects.
The window holds the Session (what is shown) and binds the views to it; every other
background job runs in the analysis or io lane.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (QDialog, QDockWidget, QFileDialog, QHBoxLayout, QLabel, QMainWindow,
                               QPushButton, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout,
                               QWidget)

from ..core.session import Session
from ..core.data.sources import image_source
from ..resources import own_command, resource_path
from .bridge import SessionBridge
from .jobs import JobRunner, freeze_heap
from .thumbnails import ThumbnailCache
from .views.explain_view import ExplainView
from .views.gallery_view import GalleryView
from .views.map_path import MapPathItems
from .views.neuron_views import NeuronViews
from .views.perturb_view import PerturbView
from .views.probe_view import ProbeView
from .views.scatter_view import ScatterView
from .widgets.controls import ControlsPanel
from .widgets.map_panel import MapPanel
from .widgets.session_files import SessionFiles
from .widgets.job_bar import JobBar
from .widgets.stale_cover import StaleCover

MAX_RECENT = 8


def about_text(device: str = "") -> str:
    """Versions of the app and what it runs on, read from package metadata (torch is not imported)."""
    import platform
    import sys
    from importlib.metadata import PackageNotFoundError, version

    import PySide6
    from PySide6.QtCore import qVersion

    def ver(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    lines = [f"CNN Feature Explorer {ver('cnn-feature-explorer')}",
             f"Python {platform.python_version()} ({sys.platform})",
             f"torch {ver('torch')} · torchvision {ver('torchvision')} · timm {ver('timm')}",
             f"Qt {qVersion()} · PySide6 {PySide6.__version__} · pyqtgraph {ver('pyqtgraph')}",
             f"Device: {device or 'known once a model is loaded'}"]
    return "\n".join(lines)


SIDE_TABS = 26  # px: the right docks' tab bar, its titles running down the window's edge


def first_size(available) -> tuple[int, int]:
    """The first window: 1440x900, or the screen's free area (a QRect) less room for the window manager's
    frame and title bar, so that a 1366x768 screen shows every edge of it."""
    return min(1440, available.width() - 16), min(900, available.height() - 48)

class MainWindow(QMainWindow):
    pipeline_finished = Signal()  # the final layout for the current settings is drawn
    pipeline_failed = Signal(str)

    def __init__(self, session: Session | None = None, *, remember: bool = True):
        super().__init__()
        self.setWindowTitle("CNN Feature Explorer")
        icon = resource_path("icons", "explorer.svg")
        if icon.exists():
            self.setWindowIcon(QIcon(str(icon)))
        self.session = session or Session()
        self.bridge = SessionBridge(self.session, self)
        self.remember = remember
        self.settings = QSettings("cnn-feature-explorer", "explorer")
        self.jobs = JobRunner(self)
        self.thumbs = ThumbnailCache(96, parent=self)
        self.previews = ThumbnailCache(320, capacity=200, parent=self)
        self._prepared = None
        self._prepared_key = None
        self.last_error = ""
        self._describing = False
        self._finish_when_described = False
        self._embedding = None  # (dataset, model, weights, layer) being embedded now, None when not
        self._docks_restored = False  # dock widths from the last session: kept as the user left them
        self._layers_of = {}  # (dataset, model, weights) -> that model's layer list, to fall back to

        self.scatter = ScatterView(self.bridge, self.thumbs, self.jobs)
        self.banner = QLabel(wordWrap=True)
        self.banner.setStyleSheet("background: #fdecea; color: #8a1c1c; padding: 6px; border: 1px solid #f5c2c0;")
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.hide()
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.banner)
        cl.addWidget(self.scatter, 1)
        self.setCentralWidget(central)
        self.stale_cover = StaleCover(self.scatter)  # greys the old map while a new one is computed

        self.controls = ControlsPanel(self.bridge)
        self.gallery = GalleryView(self.bridge, self.thumbs, self.previews, self.jobs)
        self.neurons = NeuronViews(self.bridge, self.jobs)
        self.explain = ExplainView(self.bridge, self.jobs)
        # small minimum widths: at 1024 px the map keeps half the window (see _keep_map_wide)
        self.controls_dock = self._dock("Controls", self.controls, Qt.DockWidgetArea.LeftDockWidgetArea, 200)
        self.gallery_dock = self._dock("Gallery", self.gallery, Qt.DockWidgetArea.RightDockWidgetArea, 220)
        self.neurons_dock = self._dock("Neurons", self.neurons, Qt.DockWidgetArea.RightDockWidgetArea, 220)
        self.tabifyDockWidget(self.gallery_dock, self.neurons_dock)
        self.explain_dock = self._dock("Explain", self.explain, Qt.DockWidgetArea.RightDockWidgetArea, 220)
        self.tabifyDockWidget(self.neurons_dock, self.explain_dock)
        self.explain_dock.visibilityChanged.connect(self.explain.dock_shown)
        self.probes = ProbeView(self.bridge, self.jobs)  # which layer, label errors, duplicates (issue 12)
        self.probes_dock = self._dock("Probes", self.probes, Qt.DockWidgetArea.RightDockWidgetArea, 220)
        self.tabifyDockWidget(self.explain_dock, self.probes_dock)
        self.probes.layer_chosen.connect(self.set_layer)
        self.stability = PerturbView(self.bridge, self.jobs)  # invariance, noise, adversarial images (issue 13)
        self.stability_dock = self._dock("Stability", self.stability, Qt.DockWidgetArea.RightDockWidgetArea, 220)
        self.tabifyDockWidget(self.probes_dock, self.stability_dock)
        self.map_path = MapPathItems(self.scatter.vb, self.session)  # draws session.variant_path in the map
        self.gallery_dock.raise_()
        # five tabs along a 230 px dock were elided to "Ga…", "N…" with the fifth behind an arrow: on the
        # window's edge, running down, each title is whole
        self.setTabPosition(Qt.DockWidgetArea.RightDockWidgetArea, QTabWidget.TabPosition.East)
        self.resizeDocks([self.controls_dock, self.gallery_dock], [300, 440], Qt.Orientation.Horizontal)

        self.job_bar = JobBar(self.jobs.pipeline)
        self.analysis_bar = JobBar(self.jobs.analysis, quiet=True)
        self.io_bar = JobBar(self.jobs.io, quiet=True)
        self.device_label = QLabel()
        self.count_label = QLabel()
        self.skipped_button = QPushButton()
        self.skipped_button.setFlat(True)
        self.skipped_button.setStyleSheet("color: #a15c00; text-decoration: underline;")
        self.skipped_button.clicked.connect(self.show_skipped)
        self.skipped_button.hide()
        self.map_note = QLabel()  # what the map's viewer is told (t-SNE fitted on a sample, a PCA fallback)
        self.map_note.setStyleSheet("color: #555;")
        self.bridge.layout_changed.connect(lambda: self.map_note.setText(self.session.layout_note))
        sb = self.statusBar()
        sb.addWidget(self.count_label)
        sb.addWidget(self.map_note)
        sb.addWidget(self.skipped_button)
        self.trace_note = QLabel()  # why a model's layers have no receptive fields, when it could not be traced
        self.trace_note.setStyleSheet("color: #a15c00;")
        self.trace_note.setWordWrap(True)
        self.trace_note.hide()
        sb.addWidget(self.trace_note, 1)
        sb.addPermanentWidget(self.device_label)
        sb.addPermanentWidget(self.io_bar)
        sb.addPermanentWidget(self.analysis_bar)
        sb.addPermanentWidget(self.job_bar)

        self.map_panel = MapPanel(self.bridge, self.jobs)  # search, colour by metadata, named selections
        self.map_dock = self._dock("Map", self.map_panel, Qt.DockWidgetArea.LeftDockWidgetArea, 200)
        self.tabifyDockWidget(self.findChild(QDockWidget, "Controls"), self.map_dock)
        self.findChild(QDockWidget, "Controls").raise_()  # Controls first; Map is one click away
        self.session_files = SessionFiles(self)
        self._menus()
        self.controls.open_requested.connect(self.choose_folder)
        self.controls.model_chosen.connect(lambda m: self.set_model(m))
        self.controls.weights_requested.connect(self.choose_weights)
        self.controls.weights_chosen.connect(self.set_weights)
        self.controls.layer_chosen.connect(self.set_layer)
        self.controls.projection_chosen.connect(self.set_projection)
        self.controls.thumbnails_toggled.connect(self.scatter.set_thumbnails)
        self.jobs.failed.connect(self._job_failed)
        self.bridge.run_changed.connect(self._update_counts)
        self.bridge.selection_changed.connect(self._update_counts)
        self.setAcceptDrops(True)
        self.resize(*first_size(self.screen().availableGeometry()))  # a 1366x768 laptop shows it whole
        if remember:
            self._restore()

    def _dock(self, title: str, widget: QWidget, area, width: int) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)  # View menu brings it back
        # what its own layout needs, up to 250 px: two docks and half of a 1024 px window for the map (on the
        # right less the width of the tabs that run down the window's edge)
        most = 250 if area == Qt.DockWidgetArea.LeftDockWidgetArea else 250 - SIDE_TABS
        widget.setMinimumWidth(min(max(width, widget.minimumSizeHint().width()), most))
        self.addDockWidget(area, dock)
        return dock

    def _menus(self):
        file = self.menuBar().addMenu("&File")
        self._action(file, "&Open dataset folder…", self.choose_folder, QKeySequence.StandardKey.Open)
        file.addAction("Open &demo (digits)", lambda: self.open_dataset("demo:digits"))
        self.recent_menu = file.addMenu("Open &recent")
        self._action(file, "Load &weights file…", self.choose_weights)
        self._action(file, "Use &random weights (seeded)", lambda: self.set_weights("random"))
        self._action(file, "Use p&retrained weights", lambda: self.set_weights(None))
        file.addSeparator()
        self._action(file, "Open s&ession…", lambda: self.session_files.open_dialog())
        self._action(file, "Sa&ve session…", lambda: self.session_files.save_dialog(), QKeySequence.StandardKey.Save)
        file.addSeparator()
        self._action(file, "Export selection as &CSV…", self.export_selection)
        self._action(file, "Export plot as &PNG…", self.export_png)
        self._action(file, "Export plot as S&VG…", self.export_svg)
        self._action(file, "Export for &TensorBoard projector…", self.export_projector)
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        view = self.menuBar().addMenu("&View")
        self._action(view, "&Reset zoom", self.scatter.autorange, "Home")
        self._action(view, "Show &skipped files…", self.show_skipped)
        view.addAction(self.map_dock.toggleViewAction())
        view.addSeparator()
        for dock in (self.controls_dock, self.gallery_dock, self.neurons_dock, self.explain_dock,
                     self.probes_dock, self.stability_dock):  # closed docks come back here
            view.addAction(dock.toggleViewAction())
        tools = self.menuBar().addMenu("&Tools")
        self._action(tools, "&Fine-tune a head for these classes…", self.show_finetune)
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&About CNN Feature Explorer", self.show_about)

    def show_finetune(self):
        """Train a head for the dataset's classes (training lane); its checkpoint can then embed the data."""
        from .views.finetune_dialog import FinetuneDialog

        dialog = FinetuneDialog(self.session, self.jobs.training, self)
        dialog.use_checkpoint.connect(self._use_checkpoint)
        dialog.compare_requested.connect(lambda model, path: self.compare_with(model, path))
        dialog.show()
        self.finetune_dialog = dialog  # tests reach it here
        return dialog

    def compare_with(self, model: str, weights: str | None, layer: str | None = None):
        """Another model's map of the same dataset and layer in its own window, selection linked."""
        from .views.compare_window import CompareWindow

        run = self.session.run
        window = CompareWindow(self.session, self.jobs, model=model, weights=weights,
                               layer=layer or (run.layer if run is not None else None), parent=self)
        window.show()
        self.compare_window = window  # tests reach it here
        return window

    def _use_checkpoint(self, model: str, path: str, layer: str):
        self.session.update(model=model, weights=path, layer=layer or None)
        self.start_pipeline()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if self.isVisible():
            QTimer.singleShot(0, self._keep_map_wide)

    def showEvent(self, event):
        super().showEvent(event)
        QTimer.singleShot(0, self._keep_map_wide)

    def _keep_map_wide(self):
        """Docks never take more than half the window: when they do (a small window, or docks sized for a
        big one), they shrink in proportion, down to their minimum widths; the map gets the rest."""
        docks, seen = [], set()
        for d in self.findChildren(QDockWidget):  # every dock, whoever added it; one per group of tabs
            if d.isHidden() or d.isFloating() or d in seen or self.dockWidgetArea(d) not in (
                    Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea):
                continue
            seen.update([d, *self.tabifiedDockWidgets(d)])
            docks.append(d)
        # docks get their usual widths when first shown (unless restored from the last session) and when
        # the window grows; a smaller window only ever shrinks them
        grew = self.width() > getattr(self, "_last_width", 0 if not self._docks_restored else self.width())
        self._last_width = self.width()
        if not docks:
            return
        widths = [d.width() for d in docks]
        # what the docks may take: all but half the window (separators and margins counted through the map)
        room = sum(widths) + self.centralWidget().width() - self.width() // 2
        if sum(widths) > room:
            scale = room / sum(widths)
            self.resizeDocks(docks, [max(d.minimumSizeHint().width(), int(w * scale)) for d, w in zip(docks, widths)],
                             Qt.Orientation.Horizontal)
            return
        if not grew:  # the user's own dock widths stay as they are
            return
        # a bigger window: docks shrunk for a small one grow back towards their usual widths (300 px on the
        # left, 440 on the right), within what they may take
        wanted = [300 if self.dockWidgetArea(d) == Qt.DockWidgetArea.LeftDockWidgetArea else 440 for d in docks]
        scale = min(1.0, room / sum(wanted))
        grown = [max(w, int(want * scale)) for w, want in zip(widths, wanted)]
        if grown != widths:
            self.resizeDocks(docks, grown, Qt.Orientation.Horizontal)

    def show_about(self):
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(QMessageBox.Icon.NoIcon, "About CNN Feature Explorer", about_text(self.session.device),
                          QMessageBox.StandardButton.Close, self)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.show()
        return box

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(shortcut)
        return action

    # --- settings persistence -----------------------------------------------------------------------
    def _restore(self):
        s = self.settings
        if s.value("geometry"):
            self.restoreGeometry(s.value("geometry"))
        if s.value("windowState"):
            self._docks_restored = bool(self.restoreState(s.value("windowState")))
        last = {k: s.value(k) for k in ("dataset", "model", "layer", "projection")}
        changes = {k: v for k, v in last.items() if v}
        for key, kind in (("perplexity", float), ("seed", int)):  # the last map's settings (kept per run)
            try:
                if s.value(key) not in (None, ""):
                    changes[key] = kind(s.value(key))
            except (TypeError, ValueError):
                pass
        if changes.get("dataset") and image_source(changes["dataset"]).kind == "folder" \
                and not os.path.isdir(str(changes["dataset"])):
            changes.pop("dataset")
            changes.pop("layer", None)
        self.session.update(**changes)
        self._refresh_recent()

    def closeEvent(self, event):
        self.jobs.cancel()
        if self.remember:
            s = self.settings
            s.setValue("geometry", self.saveGeometry())
            s.setValue("windowState", self.saveState())
            # the dataset is written once its pipeline opened a run (_remember_dataset), never a failed one
            for key in ("model", "projection", "perplexity", "seed"):
                s.setValue(key, getattr(self.session, key))
            s.setValue("layer", self.session.layer or "")
        super().closeEvent(event)

    def _remember_dataset(self, spec: str):
        if not self.remember:
            return
        self.settings.setValue("dataset", spec)
        recent = [r for r in self._recent() if r != spec]
        self.settings.setValue("recent", ([spec] + recent)[:MAX_RECENT])
        self._refresh_recent()

    def _recent(self) -> list[str]:
        """The recent datasets; QSettings reads a one-item list back as a plain string."""
        value = self.settings.value("recent")
        if not value:
            return []
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value if v]

    def _refresh_recent(self):
        self.recent_menu.clear()
        for spec in self._recent():
            self.recent_menu.addAction(spec, lambda spec=spec: self.open_dataset(spec))

    # --- user actions -----------------------------------------------------------------------------
    def choose_folder(self):
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images (sub-folders are classes)")
        if folder:
            self.open_dataset(folder)

    def choose_weights(self):
        path, _ = QFileDialog.getOpenFileName(self, f"Weights for {self.session.model}", "",
                                              "PyTorch state dict (*.pth *.pt *.bin *.ckpt);;All files (*)")
        if path:
            self.set_weights(path)

    def set_weights(self, weights: str | None):
        """None: pretrained (bundled or cached); "random": seeded random weights; else a state-dict path."""
        self.session.update(weights=weights, layer=None)
        self.start_pipeline()

    def open_dataset(self, spec: str):
        # a new dataset starts from the model's default layer, not the last dataset's choice
        self.session.update(dataset=str(spec), layer=None)
        self.start_pipeline()  # remembered (last dataset, Open recent) once a run opened: see _opened

    def set_model(self, name: str, weights: str | None = None):
        self.session.update(model=name, weights=weights, layer=None)
        self.start_pipeline()

    def set_layer(self, layer: str):
        if layer and layer != self.session.layer:
            self.session.update(layer=layer)
            self.start_pipeline()

    def set_projection(self, method: str, perplexity: float, seed: int):
        s = self.session
        if (method, perplexity, seed) != (s.projection, s.perplexity, s.seed):
            s.update(projection=method, perplexity=perplexity, seed=seed)
            # while a new run is embedded, its projection (started when it opens) takes these settings;
            # projecting now would replace that embedding and map the old run under the new layer's name
            if s.run is not None and self._embedding is None:
                self.start_projection()

    def dragEnterEvent(self, event):
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile() and os.path.isdir(urls[0].toLocalFile()):
            event.acceptProposedAction()

    def dropEvent(self, event):
        self.open_dataset(event.mimeData().urls()[0].toLocalFile())

    def refresh_model_statuses(self):
        """Weights status per zoo model (bundled / cached / downloadable), in the analysis lane."""
        def statuses():
            from ..core.model.zoo import list_models

            return {m.name: m.weights for m in list_models()}

        self.jobs.analysis.start("Checking model weights", statuses, self.controls.set_model_statuses,
                                 key="model-statuses")

    # --- the pipeline: core.pipeline's generators in the pipeline lane ----------------------------
    def start_pipeline(self):
        s = self.session
        self.banner.hide()
        self.job_bar.offer_resume(None)
        key = (s.dataset, s.model, s.weights)
        prepared = self._prepared if key == self._prepared_key else None
        dataset, model, weights, layer = s.dataset, s.model, s.weights, s.layer
        self._embedding = (dataset, model, weights, layer)
        self._set_stale(s.run is not None)

        def work():  # runs on the worker thread: torch is imported there, never on the GUI thread
            from ..core.pipeline import EmbedRequest, open_or_embed

            # batch_size None: small batches on the CPU, so Cancel stops within a second
            request = EmbedRequest(dataset, model, weights, layer, batch_size=None)
            return (yield from open_or_embed(request, prepared))

        def loaded(prepared):  # the one partial: torch, timm and the model are in, keep GC pauses short
            freeze_heap()
            self._model_loaded(key, prepared)

        self.jobs.pipeline.start("Embedding", work(), lambda opened: self._opened(key, opened),
                                 on_partial=loaded, on_cancel=self._embedding_cancelled)

    def _model_loaded(self, key, prepared):
        """The model is loaded while its run is still embedding: the Layer box names the layer being
        computed (the model's default when none was chosen) among the model's layers."""
        self._prepared, self._prepared_key = prepared, key
        graph = prepared.graph
        self._layers_of[key] = graph.layers
        s = self.session
        if self._embedding is not None and self._embedding[:3] == key and self._embedding[3] is None:
            self._embedding = (*key, graph.default)  # the layer being computed: Resume names it and keeps it
        if (s.dataset, s.model, s.weights) == key:
            s.update(layers=graph.layers, layer=s.layer or graph.default)
            self._set_stale(s.run is not None)  # the note now names the layer

    def _embedding_cancelled(self):
        """Cancel: the last map stays, the controls name it again, and Resume picks up the cancelled run
        (the run's done-mask keeps every finished row)."""
        wanted, self._embedding = self._embedding, None
        self._set_stale(False)
        self._show_what_is_on_screen()
        if wanted is not None:
            dataset, model, weights, layer = wanted
            self.job_bar.offer_resume(lambda: self._resume(wanted),
                                      f"Resume embedding {model} / {layer or 'default layer'}")

    def _resume(self, wanted):
        dataset, model, weights, layer = wanted
        self.session.update(dataset=dataset, model=model, weights=weights, layer=layer)
        self.start_pipeline()

    def _projection_cancelled(self):
        self.job_bar.offer_resume(self.start_projection, "Compute the map again")

    def _set_stale(self, stale: bool):
        """While a new run is computed the old map, gallery and neurons stay on screen, greyed, saying
        what is coming; clicks on them do nothing until the new run opens."""
        s = self.session
        stale = stale and s.run is not None and self._embedding is not None
        if stale:
            dataset, model, weights, layer = self._embedding
            layer = layer or (s.layer if s.model == model else None) or "its default layer"
            shown = getattr(self, "_shown_key", (None,))[0]
            what = f"{model} / {layer}" + ("" if dataset == shown else f" on {dataset}")
            self.stale_cover.show_note(f"Recomputing for {what}…\nThe map below is the previous one "
                                       f"({s.run.model} / {s.run.layer}).")
        else:
            self.stale_cover.hide()
        # the map and every view of its images (the docks but Controls, whoever added them)
        views = [self.scatter] + [d.widget() for d in self.findChildren(QDockWidget) if d.widget() is not self.controls]
        for view in views:
            view.setEnabled(not stale)

    def _opened(self, key, opened):
        self._embedding = None
        self._set_stale(False)
        run = opened.run
        self._shown_key = key  # the (dataset, model, weights) of the map on screen
        self._remember_dataset(str(key[0]))
        self.thumbs.set_run(run)
        self.previews.set_run(run)
        self.session.set_run(run)
        if opened.prepared is None:  # reopened from the cache: the map first, the model after
            self._describe_model_later(key)
        else:
            self._set_prepared(key, opened.prepared, opened.device)
        self.start_projection()

    def _set_prepared(self, key, prepared, device):
        self._describing = False
        self._prepared, self._prepared_key = prepared, key
        self._layers_of[key] = prepared.graph.layers
        self.session.update(layers=prepared.graph.layers, device=device)
        self.device_label.setText(f"Device: {device}")
        reason = getattr(prepared.graph, "trace_error", None)
        self.trace_note.setText(f"{prepared.model.name} could not be traced ({reason}): layers come from forward "
                                "hooks and receptive fields are unknown" if reason else "")
        self.trace_note.setVisible(bool(reason))
        self.neurons.set_model(prepared)
        self.explain.set_model(prepared)
        self.stability.set_model(prepared)
        self.refresh_model_statuses()  # torch is loaded by now: this costs milliseconds
        if self._finish_when_described:
            self._finish_when_described = False
            self._finished()

    def _describe_model_later(self, key):
        """Reopened runs show at once; the layer list and device arrive from the analysis lane."""
        dataset, model, weights = key

        def work():
            from ..core.pipeline import EmbedRequest, describe_model

            return (yield from describe_model(EmbedRequest(dataset, model, weights)))

        def described(out):
            if (self.session.dataset, self.session.model, self.session.weights) == key:
                self._set_prepared(key, *out)
            else:
                self._describing = False

        def failed(message: str):
            self._describing = False
            self.pipeline_failed.emit(f"Loading the model failed: {message}")

        def cancelled():  # Cancel in the status bar: the map is up, finish without the layer list
            self._describing = False
            if self._finish_when_described:
                self._finish_when_described = False
                self._finished()

        self._describing = True
        self.jobs.analysis.start("Loading the model", work(), described, key="model", on_error=failed,
                                 on_cancel=cancelled)

    def start_projection(self):
        from ..core.run.export import map_name

        s = self.session
        run, method, perplexity, seed = s.run, s.projection, s.perplexity, s.seed

        def work():
            from ..core.pipeline import project_layout

            return (yield from project_layout(run, method, perplexity=perplexity, seed=seed))

        # partials: the PCA while t-SNE starts, then t-SNE's frames
        self.jobs.pipeline.start(map_name(method), work(), self._projected,
                                 on_partial=self._show_layout, on_cancel=self._projection_cancelled)

    def _show_layout(self, layout):
        self.session.set_layout(layout.xy, layout.method, layout.note)

    def _projected(self, layout):
        self._show_layout(layout)
        self._finished()

    def _finished(self):
        if self._describing:  # the map is up; finish once the layer list has arrived too
            self._finish_when_described = True
            return
        self.scatter.redraw()  # the scatter fits each layout itself, unless the user zoomed (issue 10 bug 10)
        QTimer.singleShot(0, self.pipeline_finished.emit)

    def _job_failed(self, lane: str, name: str, message: str):
        self.last_error = own_command(f"{name} failed: {message}")  # a bundle's command, not `explorer`
        self.banner.setText(self.last_error)
        self.banner.show()
        if lane == "pipeline":
            self._embedding = None
            self._set_stale(False)
            self._show_what_is_on_screen()
            self.pipeline_failed.emit(self.last_error)

    def _show_what_is_on_screen(self):
        """After a failure the controls go back to the map on screen: its dataset, model, weights and
        layer, and that model's layer list (not the failed model's name over the old model's layers)."""
        run, key = self.session.run, getattr(self, "_shown_key", None)
        if run is None or key is None:
            return
        dataset, model, weights = key
        layers = self._layers_of.get(key, ())
        self.session.update(dataset=dataset, model=model, weights=weights, layer=run.layer, layers=layers)

    # --- status -----------------------------------------------------------------------------------
    def _update_counts(self):
        run = self.session.run
        if run is None:
            self.count_label.setText("")
            return
        c = run.counts()
        sel = len(self.session.selection)
        self.count_label.setText(f"{c['embedded']:,} images · {run.model} / {run.layer}"
                                 + (f" · {sel:,} selected" if sel else ""))
        if c["failed"]:
            parts = ", ".join(f"{n} {k}" for k, n in run.failure_summary().items())
            self.skipped_button.setText(f"{c['failed']:,} skipped ({parts})…")
            self.skipped_button.show()
        else:
            self.skipped_button.hide()

    def show_skipped(self):
        run = self.session.run
        if run is None:
            return
        rows = [(r.path, *run.status(r.index)) for r in run.rows if run.status(r.index)[0] not in ("ok", "pending")]
        dialog = QDialog(self)
        dialog.setWindowTitle(f"{len(rows)} skipped files")
        table = QTableWidget(len(rows), 3)
        table.setHorizontalHeaderLabels(["file", "status", "reason"])
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                table.setItem(i, j, QTableWidgetItem(value))
        table.resizeColumnsToContents()
        lay = QVBoxLayout(dialog)
        lay.addWidget(table)
        close = QPushButton("Close")
        close.clicked.connect(dialog.accept)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(close)
        lay.addLayout(row)
        dialog.resize(900, 400)
        dialog.show()
        return dialog

    # --- exports: file dialogs here, the writing in the io lane -------------------------------------
    def export_selection(self):
        s = self.session
        if s.run is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export selection", "selection.csv", "CSV (*.csv)")
        if path:
            from ..core.run.export import describe_map

            run, layout = s.run, s.layout
            indices = list(s.selection) or [r.index for r in run.rows]

            map_name = describe_map(s.layout_method, perplexity=s.perplexity, seed=s.seed)

            def write():
                from ..core.run.export import selection_csv

                selection_csv(run, indices, layout, path, map_name=map_name)
                return len(indices)

            self.jobs.io.start("CSV export", write, key="csv", on_result=lambda n: self.statusBar().showMessage(
                f"Wrote {n:,} rows to {path}", 5000))

    def export_png(self):
        self._export_figure("png")

    def export_svg(self):
        self._export_figure("svg")

    def _export_figure(self, kind: str):
        """The map as on screen (the zoomed part, hidden classes left out) with a title and legend."""
        from .views.plot_export import ask_size, figure_data, render_png, render_svg

        if self.session.layout is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, f"Export map as {kind.upper()}", f"feature-map.{kind}",
                                              f"{kind.upper()} (*.{kind})")
        if not path:
            return
        size = ask_size(self, (2000, 1500)) if kind == "png" else (1200, 900)
        if size is None:
            return
        data = figure_data(self.session, self.scatter.vb.viewRange())
        render = render_png if kind == "png" else render_svg
        self.jobs.io.start(f"{kind.upper()} export", lambda: render(data, path, *size), key=kind,
                           on_result=lambda _: self.statusBar().showMessage(f"Wrote {path}", 5000))

    def export_projector(self):
        run = self.session.run
        if run is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder for the TensorBoard projector files")
        if folder:
            def write():
                from ..core.run.export import projector_tsv

                return projector_tsv(run, folder)

            self.jobs.io.start("TensorBoard export", write, key="projector", on_result=lambda _: (
                self.statusBar().showMessage(f"Wrote tensors.tsv, metadata.tsv, sprite.png and "
                                             f"projector_config.pbtxt to {folder}", 5000)))
