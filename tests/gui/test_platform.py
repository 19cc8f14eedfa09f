"""When Qt's xcb platform plugin cannot load, the app names the real missing library and the install
command (issue 10, bug 15): Qt itself aborts naming, at best, another library."""

import os
import sys

import pytest

from explorer.gui import app

# ldd's output on a Debian 12 machine without libxcb-icccm4 and libxcb-keysyms1 (shortened)
LDD = """\tlinux-vdso.so.1 (0x00007ffd5c5f3000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f0b1c000000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f0b1bff0000)
\tlibxcb-keysyms.so.1 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0b1b800000)
"""


def test_missing_libraries_are_read_from_ldd_and_named_with_their_packages():
    missing = app.missing_libraries(LDD)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxkbcommon-x11.so.0"]
    message = app.xcb_message(missing)
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1, libxkbcommon-x11.so.0" in message
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 " in message
    assert app.missing_libraries("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == []


@pytest.mark.parametrize("library, package", [
    ("libxcb-render-util.so.0", "libxcb-render-util0"), ("libX11-xcb.so.1", "libx11-xcb1"),
    ("libEGL.so.1", "libegl1"), ("libdbus-1.so.3", "libdbus-1-3"), ("libglib-2.0.so.0", "libglib2.0-0"),
    ("libfontconfig.so.1", "libfontconfig1")])
def test_debian_package_names(library, package):
    assert app.debian_package(library) == package


def test_the_app_prints_the_missing_library_and_exits_before_qt_aborts(monkeypatch, capsys):
    import subprocess

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setattr(os.path, "exists", lambda p: True)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, LDD, ""))
    assert app.run_app("demo:digits") == 2
    err = capsys.readouterr().err
    assert "libxcb-icccm.so.4" in err and "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in err


def test_a_dataset_on_the_command_line_starts_from_the_default_layer():
    """Issue 10, bug 9 (command-line side): `explorer gui OTHER` inherited the layer remembered for the
    last dataset."""
    from explorer.core.session import Session

    remembered = Session(dataset="/data/a", model="resnet18", layer="layer3.0.conv1")
    assert app.startup_changes(remembered, dataset="/data/b") == {"dataset": "/data/b", "layer": None}
    assert app.startup_changes(remembered, dataset="/data/a") == {"dataset": "/data/a"}  # same: keep it
    assert app.startup_changes(remembered, dataset="/data/b", layer="layer2") == {"dataset": "/data/b",
                                                                                  "layer": "layer2"}
    assert app.startup_changes(remembered, model="alexnet", weights="pretrained") == {
        "model": "alexnet", "layer": None, "weights": None}
