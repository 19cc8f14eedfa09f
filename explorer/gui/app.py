"""Start the desktop app: the window is on screen before torch is imported."""

from __future__ import annotations

import os
import re
import sys

from ..resources import own_command

# Debian/Ubuntu package of a library, where the usual rule (libFoo-bar.so.N -> libfoo-barN) does not hold
PACKAGE_EXCEPTIONS = {"libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0",
                      "libz.so.1": "zlib1g", "libgcc_s.so.1": "libgcc-s1", "libharfbuzz.so.0": "libharfbuzz0b"}


def missing_libraries(ldd_output: str) -> list[str]:
    """The libraries ldd reports as 'not found', in order, each once."""
    found = re.findall(r"^\s*(\S+)\s+=>\s+not found", ldd_output, flags=re.MULTILINE)
    return list(dict.fromkeys(found))


def debian_package(library: str) -> str:
    """'libxcb-icccm.so.4' -> 'libxcb-icccm4', 'libxkbcommon-x11.so.0' -> 'libxkbcommon-x11-0'."""
    if library in PACKAGE_EXCEPTIONS:
        return PACKAGE_EXCEPTIONS[library]
    match = re.fullmatch(r"(lib[\w+.-]*?)\.so\.(\d+)(?:\.\d+)*", library)
    if not match:
        return library
    base, major = match.group(1).lower().replace("_", "-"), match.group(2)
    return f"{base}{'-' if base[-1].isdigit() else ''}{major}"


def xcb_message(missing: list[str]) -> str:
    packages = " ".join(dict.fromkeys(debian_package(lib) for lib in missing))
    return (f"The window cannot open: Qt's xcb platform plugin needs {', '.join(missing)}, not installed on this "
            f"system. On Debian or Ubuntu: sudo apt-get install {packages} (README, 'System packages (Linux)'). "
            "The terminal commands (explorer embed, explorer demo, ...) need none of these.")


def xcb_problem() -> str | None:
    """Why Qt's xcb plugin would fail to load, read with ldd before Qt tries (Qt then aborts the process
    naming, at best, another library); None when nothing is missing or it cannot be checked."""
    import shutil
    import subprocess

    import PySide6

    plugin = os.path.join(os.path.dirname(PySide6.__file__), "Qt", "plugins", "platforms", "libqxcb.so")
    ldd = shutil.which("ldd")
    if not os.path.exists(plugin) or ldd is None:
        return None
    try:
        out = subprocess.run([ldd, plugin], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    missing = missing_libraries(out)
    return xcb_message(missing) if missing else None


def startup_changes(session, *, dataset=None, model=None, layer=None, projection=None, weights=None) -> dict:
    """The command line's settings over the remembered ones. Another dataset or model than the remembered
    one starts from the model's default layer, not the layer remembered for the last dataset."""
    changes = {k: v for k, v in {"dataset": dataset, "model": model, "layer": layer,
                                 "projection": projection}.items() if v}
    moved = (dataset and str(dataset) != session.dataset) or (model and model != session.model)
    if moved and "layer" not in changes:
        changes["layer"] = None
    if weights:
        changes["weights"] = None if weights == "pretrained" else weights
    return changes


def _uses_xcb() -> bool:
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(";")[0].startswith("xcb")
    return bool(os.environ.get("DISPLAY")) and not os.environ.get("WAYLAND_DISPLAY")


def run_app(dataset: str | None = None, model: str | None = None, layer: str | None = None,
            projection: str | None = None, weights: str | None = None, screenshot: str | None = None) -> int:
    """Open the main window and run the pipeline; with `screenshot`, save the window and exit."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        print(own_command("No display to open the window on. On a server, 'explorer demo' runs the pipeline in "
                          "the terminal and 'explorer embed/project/neighbours' do the rest; to render the window "
                          "headless, set QT_QPA_PLATFORM=offscreen (with --screenshot PATH)."), file=sys.stderr)
        return 2
    if sys.platform.startswith("linux") and _uses_xcb():
        problem = xcb_problem()
        if problem:
            print(own_command(problem), file=sys.stderr)
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
    window.session.update(**startup_changes(window.session, dataset=dataset, model=model, layer=layer,
                                            projection=projection, weights=weights))
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
