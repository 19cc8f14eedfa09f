"""The .deb declares what the bundle needs from the system (issue 15): the glibc its binaries were linked
against (the 2.36 bundle installed on Ubuntu 22.04, glibc 2.35, and then failed to start), the libraries
Qt's xcb plugin loads, a copyright file, xz compression."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging" / "linux"))
import deb_depends  # noqa: E402

pytestmark = pytest.mark.skipif(not (shutil.which("objdump") and shutil.which("dpkg-deb")),
                                reason="needs binutils and dpkg (Debian/Ubuntu)")
QT = Path(__import__("PySide6").__file__).parent / "Qt"


@pytest.fixture
def app(tmp_path):
    """A small stand-in for the bundle: Qt's real xcb plugin and its XcbQpa library, the other Qt
    libraries as names only (carried by the bundle), and an executable."""
    app = tmp_path / "cnn-feature-explorer"
    (app / "_internal" / "platforms").mkdir(parents=True)
    plugin = QT / "plugins" / "platforms" / "libqxcb.so"
    qpa = QT / "lib" / "libQt6XcbQpa.so.6"
    if not (plugin.exists() and qpa.exists()):
        pytest.skip("this PySide6 has no xcb plugin")
    shutil.copy(plugin, app / "_internal" / "platforms")
    shutil.copy(qpa, app / "_internal")
    for name in ("libQt6Core.so.6", "libQt6Gui.so.6", "libQt6DBus.so.6", "libicui18n.so.73", "libicuuc.so.73"):
        (app / "_internal" / name).write_bytes(b"not read")
    shutil.copy(shutil.which("true"), app / "cnn-feature-explorer")
    return app


def _newest_glibc(files) -> tuple:
    """Independently of deb_depends: the dynamic symbols' versions, from objdump -T."""
    found = set()
    for f in files:
        out = subprocess.run(["objdump", "-T", str(f)], capture_output=True, text=True, check=True).stdout
        found |= {tuple(map(int, v.split("."))) for v in re.findall(r"\(?GLIBC_(\d+(?:\.\d+)+)\)?", out)}
    return max(found)


def test_depends_names_the_glibc_the_binaries_need(app):
    entries, _ = deb_depends.depends(app)
    files = [p for p in app.rglob("*") if p.is_file() and p.read_bytes()[:4] == b"\x7fELF"]
    newest = ".".join(map(str, _newest_glibc(files)))
    assert entries[0] == f"libc6 (>= {newest})"


def test_depends_names_what_the_xcb_plugin_loads(app):
    if deb_depends.debian_package("libxcb-icccm.so.4") is None:
        pytest.skip("the X11 libraries are not installed here")
    entries, missing = deb_depends.depends(app)
    for package in ("libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0", "libxkbcommon-x11-0", "libx11-xcb1",
                    "libxcb1", "libgl1"):
        assert package in entries
    assert not any(e.startswith("libqt6") for e in entries)  # what the bundle carries is no dependency
    assert "libxcb-icccm.so.4" not in missing


def test_a_build_machine_without_the_xcb_libraries_stops_the_build(app):
    entries, missing = deb_depends.depends(app, find_package=lambda lib: None if "icccm" in lib else "x")
    message = deb_depends.xcb_problem(app, missing)
    assert message and "libxcb-icccm.so.4" in message and "apt-get install" in message


@pytest.mark.slow
def test_make_deb_builds_a_package_with_depends_copyright_and_xz(app, tmp_path):
    if deb_depends.debian_package("libxcb-icccm.so.4") is None:
        pytest.skip("the X11 libraries are not installed here")
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(["bash", str(ROOT / "packaging" / "linux" / "make_deb.sh"), str(app), "1.2.3+cpu", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    deb = out / "cnn-feature-explorer_1.2.3+cpu_amd64.deb"
    field = lambda name: subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True,  # noqa: E731
                                        text=True, check=True).stdout.strip()
    depends = field("Depends")
    assert re.match(r"libc6 \(>= 2\.\d+\)", depends) and "libxcb-cursor0" in depends
    assert field("Version") == "1.2.3+cpu"
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    for path in ("./usr/share/doc/cnn-feature-explorer/copyright", "./usr/share/applications/cnn-feature-explorer.desktop",
                 "./opt/cnn-feature-explorer/cnn-feature-explorer", "./usr/bin/cnn-feature-explorer"):
        assert path in listing
    members = subprocess.run(["ar", "t", str(deb)], capture_output=True, text=True, check=True).stdout.split()
    assert "data.tar.xz" in members
    copyright_text = (ROOT / "packaging" / "linux" / "copyright").read_text()
    assert copyright_text.startswith("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/")
