"""Warm start of the app: a fully cached dataset, from process start to the map drawn (target < 3 s),
and to the model described (layer list, device) in the background.

Each start is a fresh process (offscreen Qt) on the same cache; the first start embeds and projects
the dataset (cold), the next ones reopen it. Also prints the ETA's accuracy on the cold embedding:
what the job bar said at a quarter and at half of the rows, against the time it really took.

    .venv/bin/python tests/benchmarks/bench_warm_start.py [--dataset demo:digits] [--starts 3]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time
t0 = float(sys.argv[1])
marks = {"python": time.time() - t0}
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from explorer.gui.main_window import MainWindow
from explorer.core.progress import Eta
win = MainWindow(remember=False)
win.resize(1280, 800)
win.show()
marks["window"] = time.time() - t0
eta, said = Eta(), []
started = {}
def progressed(name, done, total, label):
    if name != "Embedding" or "images/s" not in label:
        return
    now = time.time()
    started.setdefault("t", now)
    eta.update(done, total, now)
    said.append((now, done, total, eta.seconds_left()))
win.jobs.pipeline.progressed.connect(progressed)
def drawn():
    if "map" not in marks and win.session.layout is not None:
        win.scatter.plot.viewport().repaint()  # painted, not only scheduled
        marks["map"] = time.time() - t0
        marks["map_method"] = win.session.layout_method
win.bridge.layout_changed.connect(lambda: QTimer.singleShot(0, drawn))
def finished():
    marks["described"] = time.time() - t0
    marks["layers"] = win.controls.layer_combo.count()
    marks["eta"] = said
    print("MARKS " + json.dumps(marks), flush=True)
    app.quit()
win.pipeline_finished.connect(finished)
win.pipeline_failed.connect(lambda m: (print("FAILED " + m, flush=True), app.quit()))
win.session.update(dataset=sys.argv[2], projection="tsne")
QTimer.singleShot(0, win.start_pipeline)
app.exec()
win.jobs.cancel()
win.jobs.wait(30_000)
"""


def start(dataset: str, cache: str) -> dict:
    env = dict(os.environ, EXPLORER_CACHE_DIR=cache, QT_QPA_PLATFORM="offscreen")
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD, repr(t0), dataset], env=env, capture_output=True,
                         text=True, timeout=1800)
    for line in out.stdout.splitlines():
        if line.startswith("MARKS "):
            return json.loads(line[6:])
    raise SystemExit(f"the app did not finish:\n{out.stdout}\n{out.stderr[-3000:]}")


def eta_accuracy(said: list) -> str:
    if not said:
        return "no embedding steps"
    end = said[-1][0]
    parts = []
    for frac in (0.25, 0.5):
        at = next((s for s in said if s[1] >= frac * s[2] and s[3] is not None), None)
        if at is not None:
            parts.append(f"at {frac:.0%}: said {at[3]:.1f} s left, took {end - at[0]:.1f} s")
    return "; ".join(parts) or "no estimate given"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="demo:digits")
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--cache", help="an existing cache folder (default: a new one, so the first start is cold)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or tmp
        cold = start(args.dataset, cache)
        print(f"first start ({'given cache' if args.cache else 'cold'}): map {cold['map']:.1f} s "
              f"({cold['map_method']}), described {cold['described']:.1f} s")
        print(f"  ETA on the embedding: {eta_accuracy(cold['eta'])}")
        for i in range(args.starts):
            warm = start(args.dataset, cache)
            print(f"warm start {i + 1}: python {warm['python']:.2f} s, window {warm['window']:.2f} s, "
                  f"map drawn {warm['map']:.2f} s ({warm['map_method']}), model described {warm['described']:.2f} s "
                  f"({warm['layers']} layers); target: map < 3 s")


if __name__ == "__main__":
    main()
