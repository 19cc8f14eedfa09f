"""Two maps of one dataset side by side: the main window's, and another model's (e.g. a fine-tuned one).

The other map has a Session of its own (its run, layout and colouring) drawn by a second
ScatterView; the two selections are linked by file path both ways, so a click in either map
selects the same images in both, and the researcher sees how the feature space reorganised.
Embedding and projecting the other model run in the analysis lane, like any map.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...core.session import Session
from ..bridge import SessionBridge
from ..jobs import JobRunner
from ..thumbnails import ThumbnailCache
from .scatter_view import ScatterView


class CompareWindow(QWidget):
    opened = Signal()  # the other map is drawn (tests wait for it)

    def __init__(self, main: Session, jobs: JobRunner, *, model: str, weights: str | None, layer: str | None,
                 parent=None):
        super().__init__(parent, Qt.WindowType.Window)
        self.main, self.jobs = main, jobs
        self.other = Session(dataset=main.dataset, model=model, weights=weights, layer=layer,
                             projection=main.projection, perplexity=main.perplexity, seed=main.seed)
        self.bridge = SessionBridge(self.other, self)
        self.thumbs = ThumbnailCache(96, parent=self)
        self.scatter = ScatterView(self.bridge, self.thumbs, jobs)
        self.caption = QLabel(f"Embedding {main.dataset} with {model} ({_short(weights)})…", wordWrap=True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QVBoxLayout(self)
        lay.addWidget(self.caption)
        lay.addWidget(self.scatter, 1)
        self.setWindowTitle(f"Compare: {model} ({_short(weights)})")
        self.resize(720, 640)
        self._linking = False
        self._to_other: dict[int, int] = {}
        self._to_main: dict[int, int] = {}
        main.events.selection.connect(self._main_selected)
        self.other.events.selection.connect(self._other_selected)
        self._start(model, weights, layer)

    def _start(self, model, weights, layer):
        dataset, method = self.main.dataset, self.main.projection
        perplexity, seed = self.main.perplexity, self.main.seed

        def work():
            from ...core.pipeline import EmbedRequest, open_or_embed, project_layout

            opened = yield from open_or_embed(EmbedRequest(dataset, model, weights, layer, batch_size=None))
            layout = yield from project_layout(opened.run, method, perplexity=perplexity, seed=seed)
            return opened.run, layout

        self.jobs.analysis.start("Comparison map", work(), self._show, key="compare",
                                 on_error=lambda m: self.caption.setText(f"The comparison map failed: {m}"))

    def _show(self, result):
        run, layout = result
        self.thumbs.set_run(run)
        self.other.set_run(run)
        self.other.set_layout(layout.xy, layout.method)
        main_run = self.main.run
        if main_run is not None:  # rows by path: the two runs may list the folder at different times
            here = {r.path: r.index for r in run.rows}
            self._to_other = {r.index: here[r.path] for r in main_run.rows if r.path in here}
            self._to_main = {o: m for m, o in self._to_other.items()}
        self.caption.setText(f"{run.model} ({_short(self.other.weights)}) / {run.layer}, {layout.method.upper()}: "
                             "the selection is linked with the main window's map.")
        self.scatter.autorange()
        self._main_selected(self.main.selection, None)
        self.opened.emit()

    def _main_selected(self, new, _old):
        self._mirror(new, self._to_other, self.other)

    def _other_selected(self, new, _old):
        self._mirror(new, self._to_main, self.main)

    def _mirror(self, indices, mapping, target: Session):
        if self._linking or self.other.run is None:
            return
        self._linking = True
        try:
            target.select([mapping[i] for i in indices if i in mapping])
        finally:
            self._linking = False

    def closeEvent(self, event):
        self.jobs.analysis.cancel("compare")
        self.main.events.selection.disconnect(self._main_selected)
        super().closeEvent(event)


def _short(weights: str | None) -> str:
    if not weights:
        return "pretrained"
    return weights.rsplit("/", 1)[-1]
