"""Marks drawn over the map's points: the selection (black rings), the selection's neighbours (purple)
and the search's matches (crimson rings, a PointCloud so a hundred thousand matches stay cheap)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from .point_cloud import PointCloud

MATCH_COLOUR = (225, 0, 85)  # crimson: apart from the palette's orange and the neighbours' purple
NEIGHBOUR_COLOUR = (150, 30, 200)


class MapMarks:
    def __init__(self, vb: pg.ViewBox, point_size: int):
        self.match_rings = PointCloud(size=point_size + 6, ring=True)
        self.match_rings.set_colours([(*MATCH_COLOUR, 255)])
        self.match_rings.setZValue(3)
        self.shown_matches = np.zeros(0, np.int64)
        self.neighbour_marks = pg.ScatterPlotItem(size=14, pxMode=True, brush=None,
                                                  pen=pg.mkPen(*NEIGHBOUR_COLOUR, width=2.4))
        self.neighbour_marks.setZValue(4)
        self.highlight = pg.ScatterPlotItem(size=15, pxMode=True, brush=None, pen=pg.mkPen(20, 20, 20, width=2.2))
        self.highlight.setZValue(5)
        for item in (self.match_rings, self.neighbour_marks, self.highlight):
            vb.addItem(item, ignoreBounds=True)

    def set_point_size(self, size: int) -> None:
        self.match_rings.set_size(size + 6)

    def show_matches(self, layout, matches, visible: np.ndarray, view_range, limit: int) -> None:
        """Ring the visible matches in view (at most `limit`)."""
        if layout is None or matches is None or not len(matches) or not len(visible):
            self.match_rings.clear()
            self.shown_matches = np.zeros(0, np.int64)
            return
        m = matches[matches < len(layout)]
        m = m[visible[m]]
        (x0, x1), (y0, y1) = view_range
        x, y = layout[m, 0], layout[m, 1]
        m = m[(x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)][:limit]
        self.shown_matches = m
        self.match_rings.set_points(layout[m], np.zeros(len(m), np.int64))

    def show_selection(self, layout, selection, neighbours) -> None:
        near = [i for i in neighbours if layout is not None and i < len(layout)]
        near = [i for i in near if np.isfinite(layout[i, 0])]
        if near:
            self.neighbour_marks.setData(x=layout[near, 0], y=layout[near, 1])
        else:
            self.neighbour_marks.clear()
        sel = [i for i in selection if layout is not None and i < len(layout)]
        if not sel:
            self.highlight.clear()
            return
        xy = layout[sel]
        ok = np.isfinite(xy[:, 0])
        self.highlight.setData(x=xy[ok, 0], y=xy[ok, 1], size=15 if len(sel) == 1 else 10)
