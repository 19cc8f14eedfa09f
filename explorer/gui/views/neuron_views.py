"""Look inside the network: first-layer kernels (here) and channels (channels_view.py), and
activation maps.

Kernel grids come from the loaded model; the Channels tab reads the run's stored arrays. Only the
activation map of one image runs the network, in the analysis lane.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel, QScrollArea, QTabWidget, QVBoxLayout, QWidget

from ..bridge import SessionBridge
from ..jobs import JobRunner
from ..thumbnails import pil_to_qimage
from .channels_view import ChannelsView, wrapped


class KernelsView(QScrollArea):
    """The first convolution's kernels, enlarged without blur; hover names a kernel and its norm."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.grid = None
        self.label = QLabel("The kernels appear once the model is loaded.", alignment=Qt.AlignmentFlag.AlignCenter)
        self.label.setMouseTracking(True)
        self.label.mouseMoveEvent = self._hover
        self.caption = wrapped()
        inner = QWidget()
        lay = QVBoxLayout(inner)
        lay.addWidget(self.caption)
        lay.addWidget(self.label, 0, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        lay.addStretch(1)
        self.setWidget(inner)
        self.setWidgetResizable(True)

    def set_model(self, module, name: str):
        from ...core.model.kernels import kernel_grid

        self.grid = kernel_grid(module)
        g = self.grid
        from PIL import Image

        self.label.setPixmap(QPixmap.fromImage(pil_to_qimage(Image.fromarray(g.image))))
        self.label.setFixedSize(g.image.shape[1], g.image.shape[0])
        kh, kw = g.kernel_size
        self.caption.setText(f"{name} · {g.layer}: {g.n_kernels} kernels of {kh}×{kw} "
                             f"({'RGB' if g.colour else 'grey'}; mid-grey = 0)")

    def _hover(self, event):
        if self.grid is None:
            return
        i = self.grid.tile_at(int(event.position().x()), int(event.position().y()))
        self.label.setToolTip(f"kernel {i} · L2 norm {self.grid.norms[i]:.3f}" if i >= 0 else "")


class NeuronViews(QTabWidget):
    """Kernels and channels in one dock; the main window feeds it the loaded model."""

    overlay_shown = Signal()

    def __init__(self, bridge: SessionBridge, jobs: JobRunner, parent=None):
        super().__init__(parent)
        self.bridge, self.jobs = bridge, jobs
        self.session = bridge.session
        self.lane = jobs.analysis
        self.channels = ChannelsView(bridge, jobs)
        self.kernels = KernelsView()
        self.addTab(self.channels, "Channels")
        self.addTab(self.kernels, "Kernels")
        self._model = None
        self._extractor = None
        self.channels.overlay_requested.connect(self._overlay)

    def set_model(self, prepared):
        """A loaded model (core Prepared): kernels now; activation maps on request."""
        self._model = prepared.model
        self._graph = prepared.graph
        self._extractor = None
        self.kernels.set_model(prepared.model.module, prepared.model.name)
        self.channels.set_model(prepared.model)

    def _overlay(self, index: int, channel: int):
        """Run the network on one image (worker thread) and lay the channel's map over it."""
        if self._model is None or self.session.run is None:
            self.channels.overlay.setText("Activation map: waiting for the model")
            return
        run, model, graph, layer = self.session.run, self._model, self._graph, self.session.run.layer

        def work():
            from ...core.analysis.activation import layer_output
            from ...core.run.images import load_item

            cached = self._extractor  # one read: another overlay worker may replace it meanwhile
            if cached is None or cached[0] != (id(model), layer):
                cached = ((id(model), layer), graph.extractor([layer]))  # cut from the one traced graph
                self._extractor = cached
            image = load_item(run, index)
            out = layer_output(cached[1], model.preprocess, image, layer)
            if out.ndim != 3:
                return index, channel, None
            pre = model.preprocess  # the map covers the centre crop: its box in the image's pixels
            return index, channel, (image, out[channel], pre.input_to_original((0, 0, pre.crop, pre.crop), image.size))

        def done(result):
            i, c, shown = result
            if shown is None:
                self.channels.overlay.setText("This layer has no spatial map to show.")
            elif self.session.selection == [i] and self.channels.channel == c:
                self.channels.show_overlay(i, c, *shown)
                self.overlay_shown.emit()

        def cancelled():  # the overlay shows another image or channel: say so instead
            if self.session.selection == [index] and self.channels.channel == channel:
                self.channels.overlay.setText("Activation map cancelled.")

        self.lane.start("Activation map", work, done, key="overlay",
                        on_error=lambda message: self.channels.overlay.setText(f"Cannot compute the map: {message}"),
                        on_cancel=cancelled)

