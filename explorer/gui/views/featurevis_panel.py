"""A channel's feature visualisation in the Neurons tab: cached ones at once, others on request.

"Visualise" runs core.analysis.featurevis.visualise (the same code as `explorer visualise`) for the
channel's mean at the run's layer: progress and the image so far every 16 steps, Cancel, and the
result kept in the cache. It runs in the jobs' training lane, the lane for long work: the analysis
lane has one thread on a 2-core machine, and a minute of optimisation there would hold up every
patch and activation map meanwhile. Several channels (the "why here" list) run one after another.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget

from ...core.progress import Step
from ..thumbnails import pil_to_qimage
from ..widgets.labels import WrappedLabel

SIDE = 104
EVERY = 16
JOB = "Feature visualisation"


def settings_for(steps: int):
    from ...core.analysis.featurevis import Settings

    return Settings(steps=steps)  # every regulariser on, the model's input size, seed 0


def visualise_channels(loaded, layer: str, channels: list[int], steps: int):
    """Channels one after another; partials are (channel, images, final): the images every EVERY steps
    and, final, the result. Returns {channel: Visualisation}."""
    from ...core.analysis.featurevis import Objective, visualise

    out = {}
    for k, channel in enumerate(channels):
        work = visualise(loaded, Objective("channel", channel, layer), settings_for(steps), every=EVERY)
        while True:
            try:
                step = next(work)
            except StopIteration as stop:
                out[channel] = result = stop.value
                break
            label = f"channel {channel}" + (f" ({k + 1} of {len(channels)})" if len(channels) > 1 else "")
            yield Step(k * steps + step.done, len(channels) * steps, label, partial=(channel, step.partial, None))
        yield Step((k + 1) * steps, len(channels) * steps, f"channel {channel} done",
                   partial=(channel, result.images, result))
    return out


def describe(channel: int, result) -> str:
    """The caption of a finished visualisation: how far the objective rose, and a silent channel named."""
    text = (f"Channel {channel}: mean activation {result.objective_start:.3g} → {result.objective_end:.3g} "
            f"(measured on the saved image), {result.settings.steps} steps"
            + (", from the cache." if result.cached else f" in {result.seconds:.0f} s."))
    if result.objective_end <= 0 and result.objective_start <= 0:
        text += (" It never fired: at 0 on the starting noise (after its ReLU) it has no gradient to follow, "
                 "so the picture stays grey.")
    return text


class VisualisationPanel(QWidget):
    """The chosen channel's visualisation, Visualise, steps, progress and Cancel."""

    visualised = Signal(int, object)  # channel, PIL image: a result (computed or found in the cache)
    busy = Signal(bool)  # an optimisation started (True) or stopped (False)

    def __init__(self, jobs, parent=None):
        super().__init__(parent)
        self.lane = jobs.training
        self.lookups = jobs.analysis
        self.loaded = None
        self.layer: str | None = None
        self.channel: int | None = None
        self.running: list[int] = []  # channels of the job under way
        self.image = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.image.setFixedSize(SIDE, SIDE)
        self.image.setStyleSheet("background: #e8e8e8; color: #666;")
        self.image.setWordWrap(True)
        self.caption = WrappedLabel()
        self.caption.setStyleSheet("color: #555;")
        self.button = QPushButton("Visualise")
        self.button.setToolTip("Optimise an image that makes this channel's mean activation as large as possible "
                               "(Fourier parameterisation in a decorrelated colour space, jitter, scale and rotation, "
                               "total variation and L2 penalties; seed 0). Kept in the cache.")
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.steps = QSpinBox(minimum=16, maximum=4096, value=256, singleStep=64)
        self.steps.setToolTip("Optimisation steps (each is one forward and backward pass)")
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.progress.hide()
        side = QVBoxLayout()  # a narrow dock: the buttons stand in a column beside the image
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.button)
        side.addWidget(self.cancel)
        side.addStretch(1)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.image, 0, Qt.AlignmentFlag.AlignTop)
        top.addLayout(side)
        top.addStretch(1)
        steps = QHBoxLayout()
        steps.setContentsMargins(0, 0, 0, 0)
        steps.addWidget(QLabel("steps"))
        steps.addWidget(self.steps)
        steps.addWidget(self.progress, 3)
        steps.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addLayout(steps)
        lay.addWidget(self.caption)
        self.button.clicked.connect(lambda: self.start([self.channel]) if self.channel is not None else None)
        self.cancel.clicked.connect(lambda: self.lane.cancel("featurevis"))
        self.steps.valueChanged.connect(lambda _: self.show_channel(self.channel))
        self.lane.progressed.connect(self._progressed)
        self._clear("Choose a channel")

    # --- what is shown ------------------------------------------------------------------------------
    def set_target(self, loaded, layer: str | None) -> None:
        """The model and layer the channels belong to (None: nothing can be visualised)."""
        if (loaded, layer) != (self.loaded, self.layer):
            self.lane.cancel("featurevis")
        self.loaded, self.layer, self.channel = loaded, layer, None
        self._clear("Choose a channel")
        self.button.setEnabled(False)

    def lookup_function(self):
        """A look-up for a worker thread, fixed to the settings of now."""
        loaded, layer, steps = self.loaded, self.layer, self.steps.value()
        if loaded is None or layer is None:
            return None

        def look(channel):
            from ...core.analysis.featurevis import Objective
            from ...core.analysis.featurevis.lookup import cached

            found = cached(loaded, Objective("channel", channel, layer), settings_for(steps))
            return found.images[0] if found is not None else None
        return look

    def show_channel(self, channel: int | None) -> None:
        self.channel = channel
        if channel is None:
            self._clear("Choose a channel")
            self.button.setEnabled(False)
            return
        if self.loaded is None:
            self._clear("Waiting for the model")
            self.button.setEnabled(False)
            return
        self.button.setEnabled(True)
        if channel in self.running:
            return  # its partial images are on their way
        self._clear(f"Channel {channel}: not visualised yet")
        from ...core.analysis.featurevis import Objective
        from ...core.analysis.featurevis.lookup import cached

        loaded, objective = self.loaded, Objective("channel", channel, self.layer)
        settings = settings_for(self.steps.value())

        def found(result):
            if self.channel == channel and result is not None:
                self._show(result.images[0], describe(channel, result))
                self.visualised.emit(channel, result.images[0])
        self.lookups.start("Looking up a visualisation", lambda: cached(loaded, objective, settings), found,
                           key="featurevis-lookup")

    def _clear(self, text: str) -> None:
        self.image.clear()
        self.image.setText("no image")
        self.caption.setText(text + ("" if self.running else " — Visualise optimises an image that excites it."))

    def _show(self, image, caption: str | None = None) -> None:
        self.image.setPixmap(QPixmap.fromImage(pil_to_qimage(image)).scaled(
            SIDE, SIDE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
        if caption is not None:
            self.caption.setText(caption)

    # --- running ------------------------------------------------------------------------------------
    def start(self, channels: list[int]) -> None:
        if self.loaded is None or self.layer is None or not channels:
            return
        loaded, layer, steps = self.loaded, self.layer, self.steps.value()
        self.running = list(channels)
        self.busy.emit(True)
        self.cancel.setEnabled(True)
        self.progress.setRange(0, len(channels) * steps)
        self.progress.setValue(0)
        self.progress.show()
        if self.channel in channels:
            self.caption.setText(f"Channel {self.channel}: optimising…")

        def finished(_):
            self._stopped()

        def cancelled():
            self._stopped()
            if self.channel is not None and self.image.pixmap().isNull():
                self.caption.setText(f"Channel {self.channel}: visualisation cancelled.")
            elif self.channel is not None:
                self.caption.setText(f"Channel {self.channel}: cancelled; the last image so far is shown.")

        def failed(message):
            self._stopped()
            self.caption.setText(f"Cannot visualise: {message}")

        self.lane.start(JOB, visualise_channels(loaded, layer, list(channels), steps), finished, key="featurevis",
                        on_partial=self._partial, on_error=failed, on_cancel=cancelled)

    def _stopped(self) -> None:
        self.running = []
        self.busy.emit(False)
        self.cancel.setEnabled(False)
        self.progress.hide()

    def _partial(self, partial) -> None:
        channel, images, result = partial
        if result is not None:
            if channel in self.running:  # done: from now on a look-up finds it in the cache
                self.running.remove(channel)
            if channel == self.channel:
                self._show(images[0], describe(channel, result))
            self.visualised.emit(channel, images[0])
        elif channel == self.channel:
            self._show(images[0])  # the caption counts the steps

    def _progressed(self, name: str, done: int, total: int, label: str) -> None:
        if name == JOB and self.running:
            self.progress.setValue(done)
            if self.channel in self.running:
                self.caption.setText(f"Optimising {label}: step {done} of {total}…")
