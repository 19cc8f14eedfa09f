"""What the bundle leaves out: code the app never imports and, in the CPU flavour, everything of CUDA.

Used by explorer.spec (PyInstaller) and tested by tests/packaging/test_slim.py. Measured on Linux, the
CUDA libraries were 2.9 GB of the 2.8 GiB download and triton 0.9 GB; neither is ever loaded on a CPU.
"""

from __future__ import annotations

import os
import re

# Python packages the app never needs (PyInstaller follows optional imports into them). triton is imported
# when installed (torchvision.ops -> torch._dynamo), but torch runs without it, as in its CPU-only wheels;
# it only compiles GPU kernels for torch.compile. (torch itself imports torch.testing._internal.)
EXCLUDES = [
    "tkinter", "matplotlib", "IPython", "pytest", "jinja2", "PyQt5", "PyQt6", "triton",
    "torch.utils.tensorboard", "tensorboard", "onnx", "onnxruntime", "onnxscript", "sympy.testing",
    "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuickWidgets", "PySide6.QtPdf", "PySide6.QtNetwork",
    "PySide6.QtConcurrent", "PySide6.QtDesigner", "PySide6.QtHelp", "PySide6.QtSql", "PySide6.QtTest",
    "PySide6.QtUiTools", "PySide6.QtXml",
]

# a test suite of a bundled package: a folder or module named test or tests, or a test_*.py
_TESTS = re.compile(r"(^|[./\\])tests?([./\\]|$)|(^|[./\\])test_[^./\\]*(\.py)?$")

# CUDA's libraries, by file name (the nvidia-* wheels, and what torch and torchvision carry themselves)
_CUDA = re.compile(r"(cudart|cublas|cudnn|cufft|cufile|curand|cusolver|cusparse|cupti|nvrtc|nvjitlink|nvjpeg"
                   r"|nvshmem|nvtx|nccl|libtorch_cuda|libc10_cuda|libcaffe2_nvrtc|triton)", re.IGNORECASE)

# Qt plugins for screens no desktop user has: embedded framebuffers, VNC, the test platforms
_QT_UNUSED_PLUGINS = re.compile(r"(^|/)plugins/(platforms/lib(qeglfs|qlinuxfb|qvnc|qminimal|qminimalegl|qvkkhrdisplay)"
                                r"\.so|egldeviceintegrations/|platforminputcontexts/libqtvirtualkeyboard)")


def is_test(name: str) -> bool:
    """A bundled package's own tests (a module name like numpy.core.tests.test_x or a data path)."""
    return bool(_TESTS.search(name))


def keep_binary(dest: str, source: str, flavour: str, needed=None) -> bool:
    """Whether a shared library goes into the bundle. `needed(source)` lists the libraries it links
    (DT_NEEDED); in the CPU flavour a library that links CUDA's is left out with them."""
    name = dest.replace("\\", "/")
    if _QT_UNUSED_PLUGINS.search(name) or is_test(name):
        return False
    if "triton" in name.split("/")[0]:
        return False
    if flavour != "cpu":
        return True
    if _CUDA.search(os.path.basename(name)) or name.startswith("nvidia/"):
        return False
    needed = needed or linked_libraries
    return not any(_CUDA.search(lib) for lib in needed(source))


def keep_data(dest: str) -> bool:
    """Data files: not a bundled package's tests, not triton's sources and headers."""
    name = dest.replace("\\", "/")
    return not (is_test(name) or name.startswith("triton/"))


def linked_libraries(path: str) -> list[str]:
    """The DT_NEEDED entries of an ELF library ([] for anything else or where objdump is missing)."""
    import shutil
    import subprocess

    if not (path.endswith(".so") or ".so." in path) or shutil.which("objdump") is None:
        return []
    try:
        out = subprocess.run(["objdump", "-p", path], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.split()[1] for line in out.splitlines() if line.strip().startswith("NEEDED")]
