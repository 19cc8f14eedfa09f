"""The feature-space map: points coloured by class or metadata, hover, click, box and lasso selection.

Rings mark the search's matches (crimson) and the selection's neighbours (purple). Clicks and
regions replace, add to, intersect or subtract from the selection (the map toolbar's mode; Shift
adds, Ctrl removes, Ctrl+Shift intersects a click; Alt adds a region). Keys: Escape clears the
selection, arrows pan, + and - zoom. A double-click opens an image large, a right-click offers its file.

Level of detail keeps it fluid at a million points: when more than POINT_LIMIT
points are in view they are drawn as a class-coloured density image at screen
resolution; zoomed in, as real points; further in, optionally as thumbnails.
Hover uses a k-d tree, built in the analysis lane once per layout the cursor meets
(never per t-SNE frame on the GUI thread); until it is there, the points on screen are
scanned.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, Qt, QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPixmapItem, QVBoxLayout, QWidget

from .map_items import HoverCard, SelectViewBox, build_hover_tree, points_in_polygon  # noqa: F401
from .map_marks import MapMarks
from .point_cloud import PointCloud
from ..widgets.image_viewer import file_menu, open_large
from ..widgets.map_toolbar import MapToolbar
from ..bridge import SessionBridge
from ..jobs import JobRunner
from ..thumbnails import ThumbnailCache

POINT_LIMIT = 60_000  # more in view than this: density image
DENSITY_SAMPLE = 200_000  # the density image of a bigger map is drawn from a fixed random sample
THUMB_LIMIT = 250  # fewer in view than this: thumbnails (when enabled)
HOVER_RADIUS_PX = 8
PAN_STEP = 0.1  # of the view per arrow key
ZOOM_STEP = 0.8  # view scale per + key


class ScatterView(QWidget):
    def __init__(self, bridge: SessionBridge, thumbs: ThumbnailCache, jobs: JobRunner, parent=None):
        super().__init__(parent)
        self.bridge, self.jobs = bridge, jobs  # kept alive as long as the view
        self.session = bridge.session
        self.lane = jobs.analysis
        self.thumbs = thumbs
        self.thumbnails_enabled = False
        self.vb = SelectViewBox()
        self.plot = pg.PlotWidget(viewBox=self.vb, background="w")
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.vb.setAspectLocked(True)
        self.plot.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # keys: Escape, arrows, + and -
        self.toolbar = MapToolbar(bridge)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.toolbar)
        lay.addWidget(self.plot, 1)

        self.density = pg.ImageItem(axisOrder="row-major")
        self.density.setZValue(0)
        self.points = PointCloud(size=self.session.point_size)
        self.points.setZValue(1)
        self.shown_index = np.zeros(0, np.int64)  # items drawn as points
        for item in (self.density, self.points):
            self.vb.addItem(item, ignoreBounds=True)
        self.marks = MapMarks(self.vb, self.session.point_size)
        # the marks' items, named for tests and benchmarks
        self.match_rings, self.neighbour_marks, self.highlight = (self.marks.match_rings, self.marks.neighbour_marks,
                                                                  self.marks.highlight)
        self._thumb_items: dict[int, QGraphicsPixmapItem] = {}
        self._tree = None
        self._tree_index = np.zeros(0, np.int64)
        self._tree_for = None  # (layout, hidden classes) the tree was built for
        self._tree_asked = None  # ... and the one being built
        self._sources_for = None  # (run, hidden classes, colour channel, n, n finite) of what follows
        self._sample = np.zeros(0, np.int64)  # the rows the density image is drawn from
        self._hover_index = -1
        self._autorange_pending = True
        self._user_zoomed = False  # the user moved the view: the frames of this projection no longer refit it
        self._last_method = None  # layout_method of the last layout drawn
        self.mode = "empty"  # points | density | empty: what the last redraw drew
        self._prepare_sources()
        self.card = HoverCard(self)
        self._redraw_timer = QTimer(self, singleShot=True, interval=15)
        self._redraw_timer.timeout.connect(self.redraw)

        bridge.run_changed.connect(self._on_run_changed)
        bridge.layout_changed.connect(self._on_layout_changed)
        bridge.hidden_classes_changed.connect(self._on_style_changed)
        bridge.colour_changed.connect(self._on_style_changed)
        bridge.selection_changed.connect(self._update_highlight)
        bridge.neighbours_changed.connect(self._update_highlight)
        bridge.matches_changed.connect(self._update_matches)
        bridge.map_style_changed.connect(self._on_style_changed)
        bridge.focus_requested.connect(self.centre_on)
        self.vb.sigRangeChanged.connect(lambda *_: (self._redraw_timer.start(), self._set_hover(-1)))
        self.vb.sigRangeChangedManually.connect(self._zoomed_by_user)  # wheel and drag, not setRange
        self.plot.viewport().installEventFilter(self)
        self.plot.installEventFilter(self)  # keys reach the view before pyqtgraph's own (+/- history)
        self.vb.region_selected.connect(self._select_region)
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._mouse_clicked)
        thumbs.loaded.connect(self._thumb_loaded)

    # --- state -> drawing -------------------------------------------------------------------------
    def _on_run_changed(self):
        self._autorange_pending = True
        self._user_zoomed = False
        self._on_layout_changed()

    def _on_layout_changed(self):
        """A new layout (a t-SNE frame too): the view follows it, fitted, until the user zooms or pans."""
        self._prepare_sources()
        layout, method = self.session.layout, self.session.layout_method
        # a new projection (not the next frame of this one) is a new map: the old zoom means nothing there
        if not (self._last_method in ("pca", "tsne-partial") and method in ("tsne-partial", "tsne")):
            self._user_zoomed = False
        self._last_method = method
        if layout is not None and (self._autorange_pending or not self._user_zoomed):
            self._fit()
            self._autorange_pending = False
        self.redraw()
        self._update_highlight()

    def _on_style_changed(self):
        self._prepare_sources()
        self.redraw()
        self._update_highlight()

    def _zoomed_by_user(self, *_):
        self._user_zoomed = True

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Leave:  # the pointer left the map: no card for a point it left
            self._set_hover(-1)
        elif event.type() == QEvent.Type.KeyPress and obj is self.plot:
            return self.key(event.key(), event.text())
        return False

    def key(self, key, text: str = "") -> bool:
        """Escape clears the selection, arrows pan, + and - zoom; True when the key was used."""
        K = Qt.Key
        if key == K.Key_Escape:
            self.session.select([])
            return True
        steps = {K.Key_Left: (-1, 0), K.Key_Right: (1, 0), K.Key_Up: (0, 1), K.Key_Down: (0, -1)}
        if key in steps:
            (x0, x1), (y0, y1) = self.vb.viewRange()
            dx, dy = steps[key]
            self._user_zoomed = True
            self.vb.translateBy(x=dx * PAN_STEP * (x1 - x0), y=dy * PAN_STEP * (y1 - y0))
            return True
        if text in ("+", "=") or key in (K.Key_Plus, K.Key_Equal):
            self.zoom(ZOOM_STEP)
            return True
        if text in ("-", "_") or key in (K.Key_Minus, K.Key_Underscore):
            self.zoom(1 / ZOOM_STEP)
            return True
        return False

    def zoom(self, factor: float):
        """Scale the view about its centre (factor < 1 zooms in)."""
        self._user_zoomed = True
        self.vb.scaleBy((factor, factor))

    def autorange(self):
        """Fit the whole map (View > Reset zoom): new layouts are fitted again until the user zooms."""
        self._user_zoomed = False
        self._fit()

    def _fit(self):
        layout = self.session.layout
        if layout is None or not np.isfinite(layout[:, 0]).any():
            return
        lo, hi = np.nanmin(layout, 0).astype(float), np.nanmax(layout, 0).astype(float)
        pad = (hi - lo) * 0.05 + 1e-6
        self.vb.setRange(xRange=(float(lo[0] - pad[0]), float(hi[0] + pad[0])),
                         yRange=(float(lo[1] - pad[1]), float(hi[1] + pad[1])), padding=0)

    def _prepare_sources(self):
        """Per layout (not per redraw): visible mask, colours, and the sample the density image is
        drawn from. All but the sample's coordinates stay while only the layout moves (t-SNE frames)."""
        layout = self.session.layout
        if layout is None:
            self._visible = np.zeros(0, bool)
            self._dens_xy, self._dens_rgb, self._dens_weight = np.zeros((0, 2), np.float32), np.zeros((3, 0)), 1.0
            self._codes = np.zeros(0, np.int64)
            self._sources_for = None
            return
        s = self.session
        key = (s.run, s.hidden_classes, id(s.row_filter), s.colour_channel, id(s.colour_by), s.point_opacity,
               len(layout),
               int(np.isfinite(layout[:, 0]).sum()))
        same = self._sources_for is not None and self._sources_for[0] is key[0] and self._sources_for[1:] == key[1:]
        if not same:
            self._sources_for = key
            self._visible = s.visible_mask
            vis = np.flatnonzero(self._visible)
            if len(vis) > DENSITY_SAMPLE:  # the density image of a bigger map: a fixed random sample
                vis = np.sort(np.random.default_rng(0).choice(vis, DENSITY_SAMPLE, replace=False))
            self._sample = vis
            self._codes, table = s.colour_scheme()
            alpha = int(round(255 * min(1.0, max(0.05, s.point_opacity))))
            self.points.set_colours([(*rgb, alpha) for rgb in table])
            colours = np.array(table, np.float32)
            self._dens_rgb = colours[self._codes[vis]].T.copy()  # (3, m)
            self._dens_weight = int(self._visible.sum()) / max(len(vis), 1)
        self._dens_xy = np.ascontiguousarray(layout[self._sample], np.float32)

    def visible_in_view(self) -> np.ndarray:
        layout = self.session.layout
        (x0, x1), (y0, y1) = self.vb.viewRange()
        x, y = layout[:, 0], layout[:, 1]
        with np.errstate(invalid="ignore"):
            return self._visible & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)

    def redraw(self):
        layout = self.session.layout
        if layout is None or len(layout) == 0:
            self.points.clear()
            self.density.clear()
            self._clear_thumbs()
            self.mode = "empty"
            return
        (x0, x1), (y0, y1) = self.vb.viewRange()
        sx, sy = self._dens_xy[:, 0], self._dens_xy[:, 1]
        sample_in = (sx >= x0) & (sx <= x1) & (sy >= y0) & (sy <= y1)
        estimate = int(sample_in.sum()) * self._dens_weight
        inview = self.visible_in_view() if estimate <= 2 * POINT_LIMIT else None
        n = int(inview.sum()) if inview is not None else int(estimate)
        self.points.set_size(self.session.point_size)
        self.marks.set_point_size(self.session.point_size)
        if inview is not None and n <= POINT_LIMIT and not self.session.density_view:
            idx = np.flatnonzero(inview)
            self.points.set_points(layout[idx], self._codes[idx])
            self.shown_index = idx
            self.density.hide()
            self.mode = "points"
        else:
            self.points.clear()
            self.shown_index = np.zeros(0, np.int64)
            self._draw_density(sample_in)
            self.mode = "density"
        if self.thumbnails_enabled and inview is not None and n <= THUMB_LIMIT:
            self._draw_thumbs(np.flatnonzero(inview))
        else:
            self._clear_thumbs()
        self._update_matches()

    def _update_matches(self):
        self.marks.show_matches(self.session.layout, self.session.matches, self._visible, self.vb.viewRange(),
                                POINT_LIMIT)

    @property
    def shown_matches(self) -> np.ndarray:
        return self.marks.shown_matches

    def _draw_density(self, sample_in: np.ndarray):
        """Each screen cell coloured by the mean class colour of its points, alpha by log count."""
        (x0, x1), (y0, y1) = self.vb.viewRange()
        w = max(8, min(2048, int(self.vb.width() / 2)))
        h = max(8, min(2048, int(self.vb.height() / 2)))
        xy = self._dens_xy[sample_in]
        rgb = self._dens_rgb[:, sample_in]
        ix = np.clip(((xy[:, 0] - x0) * np.float32(w / (x1 - x0))).astype(np.int32), 0, w - 1)
        iy = np.clip(((xy[:, 1] - y0) * np.float32(h / (y1 - y0))).astype(np.int32), 0, h - 1)
        cell = iy * np.int32(w) + ix
        count = np.bincount(cell, minlength=w * h)
        img = np.zeros((h * w, 4), np.uint8)
        nz = np.flatnonzero(count)
        if len(nz):
            for c in range(3):
                img[nz, c] = np.bincount(cell, weights=rgb[c], minlength=w * h)[nz] / count[nz]
            img[nz, 3] = 90 + 165 * np.log1p(count[nz]) / np.log1p(count.max())
        self.density.setImage(img.reshape(h, w, 4), levels=None, autoLevels=False)
        self.density.setRect(QRectF(float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
        self.density.show()

    def _draw_thumbs(self, idx: np.ndarray):
        keep = set(int(i) for i in idx)
        for i in list(self._thumb_items):
            if i not in keep:
                self.vb.removeItem(self._thumb_items.pop(i))
        layout = self.session.layout
        for i in keep:
            item = self._thumb_items.get(i)
            if item is None:
                item = QGraphicsPixmapItem()
                item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
                item.setZValue(2)
                self.vb.addItem(item, ignoreBounds=True)
                self._thumb_items[i] = item
                self._set_thumb(i)
            item.setPos(float(layout[i, 0]), float(layout[i, 1]))

    def _set_thumb(self, i: int):
        item = self._thumb_items.get(i)
        pix = self.thumbs.pixmap(i)
        if item is not None and pix is not None:
            pix = pix.scaled(48, 48, Qt.AspectRatioMode.KeepAspectRatio)
            item.setPixmap(pix)
            item.setOffset(-pix.width() / 2, -pix.height() / 2)

    def _thumb_loaded(self, index: int):
        if index in self._thumb_items:
            self._set_thumb(index)
        if index == self.card.index:
            self._show_card(index)

    def _clear_thumbs(self):
        for item in self._thumb_items.values():
            self.vb.removeItem(item)
        self._thumb_items.clear()

    def set_thumbnails(self, on: bool):
        self.thumbnails_enabled = on
        self.redraw()

    def _update_highlight(self):
        self.marks.show_selection(self.session.layout, self.session.selection, self.session.neighbours)

    def centre_on(self, index: int):
        layout = self.session.layout
        if layout is None or not np.isfinite(layout[index, 0]):
            return
        (x0, x1), (y0, y1) = self.vb.viewRange()
        self._user_zoomed = True  # the user asked for this place: the next frames leave it
        x, y = float(layout[index, 0]), float(layout[index, 1])
        self.vb.setRange(xRange=(x - (x1 - x0) / 2, x + (x1 - x0) / 2),
                         yRange=(y - (y1 - y0) / 2, y + (y1 - y0) / 2), padding=0)

    # --- lookups ----------------------------------------------------------------------------------
    def _tree_key(self):
        return self.session.layout, (self.session.hidden_classes, id(self.session.row_filter))

    def _tree_is(self, built_for) -> bool:
        key = self._tree_key()
        return built_for is not None and built_for[0] is key[0] and built_for[1] == key[1]

    def _ensure_tree(self):
        """Build the hover tree now, on this thread (benchmarks; the view itself asks the lane)."""
        if not self._tree_is(self._tree_for):
            self._tree, self._tree_index = build_hover_tree(self.session.layout, self._visible)
            self._tree_for = self._tree_key()

    def _request_tree(self):
        if self._tree_is(self._tree_asked):
            return
        key = self._tree_asked = self._tree_key()
        layout, visible = self.session.layout, self._visible

        def built(out):
            if self._tree_is(key):
                (self._tree, self._tree_index), self._tree_for = out, key

        def cancelled():  # ask again at the next hover
            if self._tree_asked is key:
                self._tree_asked = None

        self.lane.start("Hover index", lambda: build_hover_tree(layout, visible), built, key="hover-tree",
                        on_cancel=cancelled)

    def nearest(self, x: float, y: float, radius_px: float = HOVER_RADIUS_PX) -> int:
        """Index of the visible point nearest to (x, y) within radius_px screen pixels, or -1."""
        layout = self.session.layout
        if layout is None:
            return -1
        px = self.vb.viewPixelSize()
        radius = radius_px * max(px[0], px[1])
        if not self._tree_is(self._tree_for):
            self._request_tree()
            # meanwhile: scan the points drawn (at most POINT_LIMIT), or every visible one
            cand = self.shown_index if self.mode == "points" else np.flatnonzero(self._visible)
            if not len(cand):
                return -1
            d2 = ((layout[cand] - np.float32((x, y))) ** 2).sum(1)
            best = int(np.argmin(d2))
            return int(cand[best]) if d2[best] <= radius * radius else -1
        if self._tree is None:
            return -1
        dist, k = self._tree.query([x, y], distance_upper_bound=radius)
        return int(self._tree_index[k]) if np.isfinite(dist) else -1

    def _mouse_moved(self, scene_pos):
        if not self.vb.sceneBoundingRect().contains(scene_pos):
            self._set_hover(-1)
            return
        p = self.vb.mapSceneToView(scene_pos)
        widget_pos = self.plot.mapTo(self, self.plot.mapFromScene(scene_pos))
        self._set_hover(self.nearest(p.x(), p.y()), widget_pos)

    def _set_hover(self, index: int, widget_pos=None):
        if index != self._hover_index:
            self._hover_index = index
            self._show_card(index)
        if index >= 0 and widget_pos is not None:
            x = min(widget_pos.x() + 16, self.width() - self.card.width() - 4)
            y = min(widget_pos.y() + 16, self.height() - self.card.height() - 4)
            self.card.move(max(0, int(x)), max(0, int(y)))

    def _show_card(self, index: int):
        self.card.index = index
        if index < 0 or self.session.run is None:
            self.card.hide()
            return
        run = self.session.run
        name = run.rows[index].path.rsplit("/", 1)[-1]
        self.card.text.setText(f"<b>{name}</b><br>label: {self.session.labels[index] or '-'} · #{index}")
        pix = self.thumbs.pixmap(index)
        self.card.image.setPixmap(pix if pix is not None else QPixmap())
        self.card.image.setVisible(pix is not None)
        self.card.adjustSize()
        self.card.show()
        self.card.raise_()

    def _mouse_clicked(self, ev):
        """Click selects (with the mode), double-click opens the image large, right-click: its file menu."""
        p = self.vb.mapSceneToView(ev.scenePos())
        index = self.nearest(p.x(), p.y())
        run = self.session.run
        if ev.button() == Qt.MouseButton.RightButton and index >= 0 and run is not None:
            self.menu = file_menu(self, run, index)
            self.menu.popup(ev.screenPos().toPoint())
            return
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        if ev.double():
            if index >= 0 and run is not None:
                self.viewer = open_large(self, self.jobs, run, index)
            return
        mods = ev.modifiers()
        mode = click_mode(mods, self.session.selection_mode)
        if index >= 0:
            self.session.select([index], mode=mode)
        elif mode == "replace" and not mods:
            self.session.select([])

    def _select_region(self, polygon: np.ndarray, add: bool):
        layout = self.session.layout
        if layout is None or len(polygon) < 3:
            return
        mask = self._visible
        lo, hi = polygon.min(0), polygon.max(0)
        with np.errstate(invalid="ignore"):
            cand = np.flatnonzero(mask & (layout[:, 0] >= lo[0]) & (layout[:, 0] <= hi[0])
                                  & (layout[:, 1] >= lo[1]) & (layout[:, 1] <= hi[1]))
        chosen = cand[points_in_polygon(layout[cand], polygon)]
        self.session.select(chosen.tolist(), mode="add" if add else self.session.selection_mode)

    def export_png(self, path: str) -> bool:
        return self.plot.grab().save(path)


def click_mode(mods, default: str) -> str:
    """What a click does: Shift adds, Ctrl (Cmd) removes, both intersect; otherwise the toolbar's mode."""
    shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
    ctrl = bool(mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.MetaModifier))
    alt = bool(mods & Qt.KeyboardModifier.AltModifier)
    if shift and ctrl:
        return "intersect"
    if shift or alt:
        return "add"
    if ctrl:
        return "subtract"
    return default
