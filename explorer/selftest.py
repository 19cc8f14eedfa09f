"""`explorer --self-test`: prove that this installation (or built bundle) works, end to end.

Imports the whole stack, embeds the bundled photos with the bundled model in a DataLoader
worker process (the part frozen bundles most often break), checks the predictions, opens the
main window offscreen on them, renders it to a PNG and writes a JSON report. Exit 0 when every
check passed, 1 otherwise, with the reason in the report and on stderr.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

CATS = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


def _images() -> Path:
    """The bundled photos (EXPLORER_SELFTEST_IMAGES points elsewhere, to test the failure path)."""
    from .resources import resource_path

    override = os.environ.get("EXPLORER_SELFTEST_IMAGES")
    path = Path(override) if override else resource_path("selftest")
    if not path.is_dir():
        raise FileNotFoundError(f"the self-test images are missing: {path} (the bundle is incomplete)")
    return path


def run_self_test(report_path: str | None = None, screenshot: str | None = None, t0: float | None = None) -> int:
    t0 = t0 or time.perf_counter()
    out_dir = Path(tempfile.mkdtemp(prefix="explorer-selftest-"))  # run folder, cache: removed at the end
    try:
        return _run(out_dir, report_path, screenshot, t0)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def _run(out_dir: Path, report_path: str | None, screenshot: str | None, t0: float) -> int:
    asked = report_path is not None
    report_path = Path(report_path or out_dir / "self-test.json")
    screenshot = Path(screenshot or out_dir / "self-test.png")
    report: dict = {"ok": False, "checks": {}, "timings": {}, "platform": platform.platform(),
                    "python": platform.python_version(), "frozen": bool(getattr(sys, "frozen", False))}
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("EXPLORER_CACHE_DIR", str(out_dir / "cache"))
    try:
        _window_before_torch(report, screenshot, t0)
        _embed_and_classify(report, out_dir)
        report["ok"] = all(report["checks"].values())
        if not report["ok"]:
            report["reason"] = "failed checks: " + ", ".join(k for k, v in report["checks"].items() if not v)
    except Exception as exc:  # the report must say why, whatever broke
        report["reason"] = f"{type(exc).__name__}: {exc}"
        report["traceback"] = traceback.format_exc()
    report["timings"]["total_s"] = round(time.perf_counter() - t0, 2)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("ok", "timings", "checks")} | {"report": str(report_path) if asked else None},
                     indent=2))
    if not report["ok"]:
        print(f"self-test failed: {report.get('reason')}", file=sys.stderr)
        if not asked:  # the report goes with the temporary folder: its traceback goes to stderr
            print(report.get("traceback", ""), file=sys.stderr, end="")
    return 0 if report["ok"] else 1


def _window_before_torch(report: dict, screenshot: Path, t0: float) -> None:
    """The window is on screen before torch is imported; then the pipeline fills it."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(remember=False)
    window.show()
    app.processEvents()
    report["timings"]["window_shown_s"] = round(time.perf_counter() - t0, 2)
    age = _process_age()
    if age is not None:  # includes interpreter start-up (and a bundle's bootloader)
        report["timings"]["window_shown_since_process_start_s"] = round(age, 2)
    report["checks"]["window_before_torch"] = "torch" not in sys.modules
    window.session.update(dataset=str(_images()), projection="pca")
    outcome = {}
    window.pipeline_finished.connect(lambda: outcome.setdefault("ok", True) and app.quit())
    window.pipeline_failed.connect(lambda msg: (outcome.setdefault("error", msg), app.quit()))
    QTimer.singleShot(0, window.start_pipeline)
    QTimer.singleShot(300_000, app.quit)
    app.exec()
    window.jobs.wait(30_000)
    report["timings"]["map_drawn_s"] = round(time.perf_counter() - t0, 2)
    report["checks"]["window_pipeline"] = bool(outcome.get("ok")) and "error" not in outcome
    if "error" in outcome:
        report["window_error"] = outcome["error"]
    window.grab().save(str(screenshot))
    report["screenshot"] = str(screenshot)
    report["checks"]["screenshot_written"] = screenshot.exists() and screenshot.stat().st_size > 10_000
    n_points = int(len(window.scatter.points))
    report["checks"]["map_has_all_images"] = n_points == 4
    window.close()


def _embed_and_classify(report: dict, out_dir: Path) -> None:
    t = time.perf_counter()
    import numpy as np
    import torch

    from .core.data.datasets import open_dataset
    from .core.engine.embedding import embed_dataset, resolve_device
    from .core.model.graph import model_graph
    from .core.model.zoo import load_model
    from .core.progress import run_to_end

    report["timings"]["import_torch_s"] = round(time.perf_counter() - t, 2)
    device = resolve_device("auto")
    report["device"] = str(device) + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else "")
    report["versions"] = _versions()
    t = time.perf_counter()
    model = load_model("efficientnet_lite0")
    dataset = open_dataset(_images())
    result = run_to_end(embed_dataset(dataset, model, out=out_dir / "run", batch_size=2, workers=1))
    report["timings"]["embed_s"] = round(time.perf_counter() - t, 2)
    run = result.run
    report["checks"]["embedded_in_worker_process"] = run.counts()["embedded"] == 4
    report["checks"]["features_finite"] = bool(np.isfinite(np.asarray(run.features, np.float32)).all())
    names = {r.path: r.index for r in run.rows}
    logits = model_graph(model).extractor([], logits=True)  # the engine's own path to the logits
    with torch.inference_mode():
        x = torch.stack([model.preprocess(dataset.load(names[p])[0]) for p in ("chelsea.jpg", "coffee.jpg")])
        top5 = logits(x)["logits"].topk(5).indices.tolist()
    labels = [[model.categories[i] for i in row] for row in top5]
    report["predictions"] = {"chelsea.jpg": labels[0], "coffee.jpg": labels[1]}
    report["checks"]["cat_is_a_cat"] = bool(CATS & set(labels[0]))
    report["checks"]["coffee_is_espresso"] = "espresso" in labels[1]


def _process_age() -> float | None:
    """Seconds since this process started (Linux /proc), or None elsewhere."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "torchvision", "timm", "numpy", "pillow", "scikit-learn", "openTSNE", "PySide6-Essentials",
                 "pyqtgraph", "superqt", "cnn-feature-explorer"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out
