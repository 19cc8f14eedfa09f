"""What the bundle leaves out (packaging/slim.py, used by explorer.spec): issue 15's CPU flavour drops
CUDA's libraries, triton and the tests of bundled packages, and keeps everything the app runs on."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "packaging"))
import slim  # noqa: E402

NO_LINKS = lambda path: []  # noqa: E731


@pytest.mark.parametrize("dest", [
    "nvidia/cudnn/lib/libcudnn.so.9", "torch/lib/libtorch_cuda.so", "torch/lib/libc10_cuda.so",
    "torch/lib/libcudart-2f3a.so.13", "torchvision.libs/libnvjpeg.36e11081.so.13", "libcublasLt.so.13",
    "triton/_C/libtriton.so",
])
def test_the_cpu_flavour_drops_cuda(dest):
    assert not slim.keep_binary(dest, "/x/" + dest, "cpu", NO_LINKS)


@pytest.mark.parametrize("dest", ["torch/lib/libtorch_cuda.so", "nvidia/cudnn/lib/libcudnn.so.9"])
def test_the_cuda_flavour_keeps_cuda(dest):
    assert slim.keep_binary(dest, "/x/" + dest, "cuda", NO_LINKS)


@pytest.mark.parametrize("dest", [
    "torch/lib/libtorch_cpu.so", "torch/lib/libc10.so", "torch/lib/libgomp.so.1", "PySide6/Qt/lib/libQt6Widgets.so.6",
    "PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/platforms/libqoffscreen.so",
    "PySide6/Qt/plugins/platforms/libqwayland.so", "libxcb-cursor.so.0", "scipy/special/_test_internal.so",
    "sklearn/utils/_testing.py", "torch/testing/_comparison.py", "PIL/_imaging.cpython-311-x86_64-linux-gnu.so",
])
def test_what_the_app_runs_on_stays(dest):
    assert slim.keep_binary(dest, "/x/" + dest, "cpu", NO_LINKS) and slim.keep_data(dest)


def test_a_library_that_links_cuda_goes_with_it_in_the_cpu_flavour():
    links = {"/x/_C.so": ["libc10.so", "libtorch_cuda.so", "libcudart.so.13"], "/x/image.so": ["libjpeg.so.8"]}
    assert not slim.keep_binary("torchvision/_C.so", "/x/_C.so", "cpu", links.get)
    assert slim.keep_binary("torchvision/image.so", "/x/image.so", "cpu", links.get)
    assert slim.keep_binary("torchvision/_C.so", "/x/_C.so", "cuda", links.get)


@pytest.mark.parametrize("dest", [
    "scipy/linalg/tests/data/gendare_20170120_data.npz", "sklearn/datasets/tests/data/openml/id_1/data.arff.gz",
    "numpy/core/tests/test_multiarray.py", "skimage/data/tests/x.png", "triton/backends/nvidia/include/cuda.h",
])
def test_tests_of_bundled_packages_and_triton_stay_out(dest):
    assert not slim.keep_data(dest)


def test_unused_qt_platforms_stay_out():
    for name in ("libqeglfs.so", "libqlinuxfb.so", "libqvnc.so", "libqminimal.so"):
        assert not slim.keep_binary(f"PySide6/Qt/plugins/platforms/{name}", "/x", "cuda", NO_LINKS)


BLOCKED_RUN = """
import sys
sys.path.insert(0, {packaging!r})
import slim

class Hide:  # as in the bundle: no finder finds an excluded module
    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if any(name == ex or name.startswith(ex + ".") for ex in slim.EXCLUDES):
            return None
        return self.finder.find_spec(name, path, target)

    def __getattr__(self, attr):
        return getattr(self.finder, attr)

sys.meta_path[:] = [Hide(f) if hasattr(f, "find_spec") else f for f in sys.meta_path]
import torch, torchvision, timm, pyqtgraph
import explorer.gui.main_window, explorer.gui.app, explorer.selftest
from explorer.core.model.zoo import load_model
from explorer.core.model.graph import model_graph
model = load_model("efficientnet_lite0")
with torch.inference_mode():
    out = model_graph(model).extractor([], logits=True)(torch.zeros(1, 3, 224, 224))["logits"]
    tv = torchvision.models.resnet18(weights=None).eval()(torch.zeros(1, 3, 64, 64))
assert "triton" not in sys.modules and "PySide6.QtTest" not in sys.modules
print("ran", tuple(out.shape), tuple(tv.shape))
"""


@pytest.mark.slow
def test_the_app_runs_without_what_is_excluded():
    """In a fresh interpreter where every excluded module is missing (as in the bundle), the window's and
    the pipeline's modules import and the bundled model and a torchvision model run."""
    import subprocess

    code = BLOCKED_RUN.format(packaging=str(Path(slim.__file__).parent))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ran (1, 1000) (1, 1000)" in proc.stdout


def test_linked_libraries_reads_an_elf_file():
    import shutil

    if shutil.which("objdump") is None or not Path("/bin/ls").exists():
        pytest.skip("objdump is not installed")
    import glob

    libz = sorted(glob.glob("/usr/lib/x86_64-linux-gnu/libz.so.1*") + glob.glob("/lib*/libz.so.1*"))
    if not libz:
        pytest.skip("no libz here")
    assert "libc.so.6" in slim.linked_libraries(libz[0])
    assert slim.linked_libraries(__file__) == []
