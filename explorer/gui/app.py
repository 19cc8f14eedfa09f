"""Start the desktop app: the window is on screen before torch is imported."""

from __future__ import annotations

import sys


def run_app(dataset: str | None = None, model: str | None = None, layer: str | None = None,
            projection: str | None = None, weights: str | None = None, screenshot: str | None = None) -> int:
    """Open the main window and run the pipeline; with `screenshot`, save the window and exit."""
    import os

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        print("No display to open the window on. On a server, 'explorer demo' runs the pipeline in the "
              "terminal and 'explorer embed/project/neighbours' do the rest; to render the window "
              "headless, set QT_QPA_PLATFORM=offscreen (with --screenshot PATH).", file=sys.stderr)
        return 2
    import pyqtgraph as pg
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("CNN Feature Explorer")
    app.setOrganizationName("cnn-feature-explorer")
    pg.setConfigOptions(antialias=True)
    window = MainWindow(remember=screenshot is None)  # a scripted screenshot leaves the user's settings alone
    changes = {k: v for k, v in {"dataset": dataset, "model": model, "layer": layer,
                                 "projection": projection}.items() if v}
    if model and "layer" not in changes:
        changes["layer"] = None
    if weights:
        changes["weights"] = None if weights == "pretrained" else weights
    window.session.update(**changes)
    window.show()
    QTimer.singleShot(0, window.start_pipeline)
    result = {"code": 0}
    if screenshot:
        def save(code: int):
            window.grab().save(screenshot)
            result["code"] = code
            app.quit()

        window.pipeline_finished.connect(lambda: QTimer.singleShot(400, lambda: save(0)))
        window.pipeline_failed.connect(lambda msg: (print(msg, file=sys.stderr), save(1)))
    app.exec()
    window.jobs.cancel()
    window.jobs.wait(30_000)  # let workers close their generators cleanly
    return result["code"]
