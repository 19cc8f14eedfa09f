"""The scatter at 100k and 1M points: load, redraw after a zoom, hover lookup (offscreen Qt).

Targets: load < 2 s, redraw after zoom < 40 ms at 100k and < 100 ms at 1M, hover < 5 ms.
Load = labels and layout into the state, first frame painted, hover index built.
Redraw = our redraw after a zoom plus Qt painting the plot (viewport repaint).
"""

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from explorer.core.run.store import Row  # noqa: E402
from explorer.core.session import Session  # noqa: E402
from explorer.gui.bridge import SessionBridge  # noqa: E402
from explorer.gui.jobs import JobRunner  # noqa: E402
from explorer.gui.thumbnails import ThumbnailCache  # noqa: E402
from explorer.gui.views.scatter_view import ScatterView  # noqa: E402


class FakeRun:
    """Just what the scatter reads from a run: rows with labels."""

    def __init__(self, labels):
        self.rows = [Row(i, f"img/{i}.jpg", labels[i]) for i in range(len(labels))]
        self.layer, self.model = "features", "bench"


def blobs(n, k=10, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-50, 50, (k, 2))
    lab = rng.integers(0, k, n)
    return (centres[lab] + rng.normal(0, 4, (n, 2))).astype(np.float32), [str(c) for c in lab]


def paint(view):
    view.plot.viewport().repaint()


def main():
    app = QApplication.instance() or QApplication([])
    for n in (100_000, 1_000_000):
        layout, labels = blobs(n)
        run = FakeRun(labels)
        state = Session()
        view = ScatterView(SessionBridge(state), ThumbnailCache(), JobRunner())
        view.resize(1000, 800)
        view.show()
        app.processEvents()

        t = time.perf_counter()
        state.set_run(run)
        state.set_layout(layout, "tsne")
        paint(view)
        view._ensure_tree()
        load = time.perf_counter() - t

        times = {}
        for label, factor in (("whole map", None), ("zoom x4", 0.25), ("zoom x30", 1 / 30)):
            samples, shown = [], []
            for rep in range(5):
                cx, cy = layout[rep * 997 % n]
                half = 70 * (factor or 1)
                t = time.perf_counter()
                if factor is None:
                    view.autorange()
                else:
                    view.vb.setRange(xRange=(float(cx - half), float(cx + half)),
                                     yRange=(float(cy - half), float(cy + half)), padding=0)
                view.redraw()
                paint(view)
                samples.append(time.perf_counter() - t)
                shown.append(int(view.visible_in_view().sum()))
            times[label] = (np.median(samples) * 1000, f"{view.mode}, {int(np.median(shown)):,} in view")

        rng = np.random.default_rng(1)
        hover = []
        for x, y in rng.uniform(-50, 50, (500, 2)):
            t = time.perf_counter()
            view.nearest(float(x), float(y))
            hover.append(time.perf_counter() - t)
        hover = np.array(hover) * 1000
        print(f"{n:>9,} points: load {load:.2f} s; " + "; ".join(
            f"redraw {k} {v:.0f} ms ({mode})" for k, (v, mode) in times.items())
            + f"; hover median {np.median(hover):.3f} ms, max {hover.max():.3f} ms")
        view.close()


if __name__ == "__main__":
    main()
