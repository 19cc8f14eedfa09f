"""The map (scatter) on its own, on a small synthetic run: hover card, t-SNE animation and zoom, the
point cloud's bounds, search, colourings, neighbours, selection operations, style and keys."""

from dataclasses import dataclass

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


@dataclass
class Row:
    index: int
    path: str
    label: str | None


class FakeRun:
    """What the map, the gallery and the session read of a run: rows, features, statuses."""

    def __init__(self, paths, labels, features=None, root="/data/icons"):
        self.rows = [Row(i, p, l) for i, (p, l) in enumerate(zip(paths, labels))]
        self.layer = "layer4"
        self.dataset_root = root
        n = len(paths)
        self.features = features if features is not None else np.random.default_rng(0).normal(size=(n, 8))
        self.done_mask = np.ones(n, bool)
        self.path = f"/runs/{id(self)}"

    model = "resnet18"
    manifest = {"layers": [{"name": "layer4", "stride": 32}]}

    def __len__(self):
        return len(self.rows)

    def counts(self):
        return {"embedded": len(self.rows), "failed": 0, "pending": 0}

    def failure_summary(self):
        return {}

    def layer_shape(self, layer=None):
        return (8,)

    def receptive_field(self, layer=None):
        return None

    def status(self, i):
        return "ok", ""

    def full_path(self, i):
        return f"{self.dataset_root}/{self.rows[i].path}"


DESIGNS = ("flat", "line", "solid")
OBJECTS = ("cat", "cup", "car", "key")


def icon_run():
    """4 objects (folders) x 3 designs (file-name prefixes) x 2 sizes = 24 images."""
    paths, labels = [], []
    for obj in OBJECTS:
        for design in DESIGNS:
            for size in (16, 32):
                paths.append(f"{obj}/{design}_{obj}_{size}.png")
                labels.append(obj)
    return FakeRun(paths, labels)


@pytest.fixture
def view(qtbot):
    from explorer.core.session import Session
    from explorer.gui.bridge import SessionBridge
    from explorer.gui.jobs import JobRunner
    from explorer.gui.thumbnails import ThumbnailCache
    from explorer.gui.views.scatter_view import ScatterView

    session = Session()
    bridge = SessionBridge(session)
    jobs = JobRunner()
    thumbs = ThumbnailCache(96)  # never given a run: no thumbnails, no decoding
    scatter = ScatterView(bridge, thumbs, jobs)
    qtbot.addWidget(scatter)
    scatter.resize(600, 500)
    scatter.show()
    qtbot.waitExposed(scatter)
    run = icon_run()
    session.set_run(run)
    rng = np.random.default_rng(1)
    session.set_layout(rng.normal(size=(len(run.rows), 2)) * 10, "pca")
    yield scatter
    jobs.cancel()
    jobs.wait(10_000)


def pixel_of(scatter, index):
    x, y = scatter.session.layout[index]
    scene = scatter.vb.mapViewToScene(QPointF(float(x), float(y)))
    return scatter.plot.mapFromScene(scene)


def hover(qtbot, scatter, index):
    QTest.mouseMove(scatter.plot.viewport(), QPoint(1, 1))  # a move, even if the pointer was there already
    qtbot.wait(40)  # pyqtgraph's scene drops moves closer than 1/60 s
    QTest.mouseMove(scatter.plot.viewport(), pixel_of(scatter, index))
    qtbot.waitUntil(lambda: scatter.card.isVisible() and scatter.card.index == index, timeout=3000)


def wheel(scatter, steps=1):
    vp = scatter.plot.viewport()
    centre = QPointF(vp.width() / 2, vp.height() / 2)
    ev = QWheelEvent(centre, vp.mapToGlobal(centre), QPoint(), QPoint(0, 120 * steps), Qt.MouseButton.NoButton,
                     Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, ev)


def in_view(scatter, xy):
    (x0, x1), (y0, y1) = scatter.vb.viewRange()
    return (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)


# --- bug 7: the hover card --------------------------------------------------------------------------------
def test_the_hover_card_hides_when_the_pointer_leaves_the_map(qtbot, view):
    hover(qtbot, view, 3)
    QApplication.sendEvent(view.plot.viewport(), QEvent(QEvent.Type.Leave))
    assert not view.card.isVisible()


def test_the_hover_card_is_opaque_over_points(qtbot, view):
    view.plot.setBackground("k")  # whatever lies under the card must not show through it
    hover(qtbot, view, 3)
    card = view.card
    image = view.grab().toImage()
    # a pixel inside the card's margin, away from its border, text and thumbnail
    colour = image.pixelColor(card.x() + 3, card.y() + card.height() // 2)
    assert (colour.red(), colour.green(), colour.blue()) == (255, 255, 255)
    assert card.testAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # it never steals the hover


# --- bug 10: the t-SNE animation and the user's zoom -----------------------------------------------------
def test_t_sne_frames_stay_fitted_until_the_user_zooms_and_the_end_keeps_the_zoom(qtbot, view):
    s = view.session
    rng = np.random.default_rng(2)
    final = rng.normal(size=(len(s.layout), 2)) * 50
    for scale in (1e-3, 0.05, 0.5, 1.0):  # early exaggeration: a speck, then spreading past the PCA's view
        s.set_layout(final * scale, "tsne-partial")
        assert in_view(view, s.layout).all()
        (x0, x1), _ = view.vb.viewRange()
        spread = np.ptp(s.layout[:, 0])
        assert spread > 0.6 * (x1 - x0)  # fitted, not a speck in the middle
    wheel(view, 2)  # the user zooms in
    zoomed = view.vb.viewRange()
    s.set_layout(final * 1.2, "tsne-partial")
    assert np.allclose(view.vb.viewRange(), zoomed)
    s.set_layout(final * 1.3, "tsne")  # the last frame
    assert np.allclose(view.vb.viewRange(), zoomed)
    view.autorange()  # View > Reset zoom fits again, and the next frames follow the map again
    s.set_layout(final * 3, "tsne")
    assert in_view(view, s.layout).all()


def test_the_window_keeps_the_user_s_zoom_when_the_pipeline_finishes(qtbot, window):
    run = icon_run()
    window.session.set_run(run)
    window.session.set_layout(np.random.default_rng(3).normal(size=(len(run.rows), 2)), "tsne-partial")
    wheel(window.scatter, 3)
    zoomed = window.scatter.vb.viewRange()
    window.session.set_layout(window.session.layout * 1.1, "tsne")
    window._finished()  # what the pipeline does after the last frame
    assert np.allclose(window.scatter.vb.viewRange(), zoomed)


# --- the point cloud's bounds hold its dots, not only their centres -----------------------------------------
def test_the_point_cloud_bounds_hold_whole_dots(qtbot, view):
    cloud = view.points
    assert len(cloud) == len(view.session.layout)
    bounds = cloud.sceneBoundingRect()
    r = cloud.size / 2
    for i in range(len(view.session.layout)):
        x, y = view.session.layout[i]
        c = view.vb.mapViewToScene(QPointF(float(x), float(y)))
        # the disc drawn around each centre, in scene pixels, independent of the item's own sums
        assert bounds.left() <= c.x() - r and c.x() + r <= bounds.right()
        assert bounds.top() <= c.y() - r and c.y() + r <= bounds.bottom()
