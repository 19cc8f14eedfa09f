"""The drawing hook for Session.variant_path: a perturbation sweep's variants as a path over the map.

The original image is a ring at the start; each variant a dot, joined in the order of the values,
the first, last and every few values labelled. It lives in the map's ViewBox but belongs to no view:
it draws whatever the session holds, so the scatter view needs no knowledge of perturbations.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

PATH_COLOUR = (230, 110, 0)
MAX_LABELS = 7


class MapPathItems:
    def __init__(self, vb: pg.ViewBox, session):
        self.vb, self.session = vb, session
        self.line = pg.PlotDataItem(pen=pg.mkPen(*PATH_COLOUR, width=2), symbol="o", symbolSize=7,
                                    symbolBrush=pg.mkBrush(*PATH_COLOUR), symbolPen=pg.mkPen(255, 255, 255))
        self.start = pg.ScatterPlotItem(size=16, pxMode=True, brush=None, pen=pg.mkPen(*PATH_COLOUR, width=3))
        self.labels: list[pg.TextItem] = []
        for item, z in ((self.line, 6), (self.start, 7)):
            item.setZValue(z)
            vb.addItem(item, ignoreBounds=True)
        session.events.variant_path.connect(self.show)
        self.show(session.variant_path)

    def show(self, path, *_):
        for label in self.labels:
            self.vb.removeItem(label)
        self.labels = []
        if path is None or not len(path.points):
            self.line.setData([], [])
            self.start.clear()
            return
        xy = np.asarray(path.points, np.float64)
        self.line.setData(xy[:, 0], xy[:, 1])
        self.start.setData(x=xy[:1, 0], y=xy[:1, 1])
        n = len(xy) - 1
        every = max(1, int(np.ceil(n / (MAX_LABELS - 1)))) if n else 1
        shown = sorted({0, *range(1, n + 1, every), n})
        (x0, x1), (y0, y1) = self.vb.viewRange()
        near = 0.06 * max(x1 - x0, y1 - y0)  # a label this close to one already written would cover it
        written: list[np.ndarray] = []
        for i in shown:
            if any(np.abs(xy[i] - w).max() < near for w in written):
                continue
            written.append(xy[i])
            text = f"{path.kind} {path.labels[i]}" if i == 1 else path.labels[i]
            label = pg.TextItem(text, color=(90, 45, 0), anchor=(-0.1, 1.1))
            label.setPos(xy[i, 0], xy[i, 1])
            label.setZValue(8)
            self.vb.addItem(label, ignoreBounds=True)
            self.labels.append(label)
