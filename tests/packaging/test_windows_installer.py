"""The Windows installer script (packaging/windows/installer.nsi, issue 15) compiles with NSIS (which runs on
Linux too) into an installer that carries the app folder, a Start-menu entry and an uninstaller."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("makensis") is None, reason="NSIS is not installed (apt-get install nsis)")
def test_the_installer_compiles_from_an_app_folder(tmp_path):
    app = tmp_path / "cnn-feature-explorer"
    (app / "_internal").mkdir(parents=True)
    for name in ("cnn-feature-explorer.exe", "cnn-feature-explorer-cli.exe", "_internal/python311.dll"):
        (app / name).write_bytes(b"MZ stand-in " + name.encode())
    icons = tmp_path / "icons"
    subprocess.run([sys.executable, str(ROOT / "packaging" / "make_icons.py"), str(icons)], check=True,
                   capture_output=True, timeout=120)
    out = tmp_path / "cnn-feature-explorer-9.9.9-windows-x64-setup.exe"
    proc = subprocess.run(["makensis", "-V2", "-DVERSION=9.9.9", f"-DAPP_DIR={app}", f"-DICON={icons / 'explorer.ico'}",
                           f"-DOUT={out}", str(ROOT / "packaging" / "windows" / "installer.nsi")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = out.read_bytes()
    assert data[:2] == b"MZ" and b"Nullsoft" in data  # a Windows program, an NSIS installer
    _check_dll_reader(out)
    script = (ROOT / "packaging" / "windows" / "installer.nsi").read_text()
    for needed in ('CreateShortcut "$SMPROGRAMS', "WriteUninstaller", "cnn-feature-explorer.exe", "UninstallString"):
        assert needed in script


def test_make_icons_writes_the_installers_icons(tmp_path):
    from PIL import Image

    subprocess.run([sys.executable, str(ROOT / "packaging" / "make_icons.py"), str(tmp_path)], check=True,
                   capture_output=True, timeout=120)
    ico = Image.open(tmp_path / "explorer.ico")
    assert (256, 256) in ico.info["sizes"] and (16, 16) in ico.info["sizes"]
    assert Image.open(tmp_path / "explorer.icns").size == (1024, 1024)
    png = Image.open(tmp_path / "explorer-256.png").convert("RGBA")
    assert png.getextrema()[3][1] == 255 and png.getpixel((0, 0))[3] == 0  # drawn, with transparent corners


def _check_dll_reader(exe: Path):
    """packaging/windows/check_dlls.py reads a PE file's imported DLLs as objdump does, and reports a DLL
    that is neither in the build nor part of Windows."""
    sys.path.insert(0, str(ROOT / "packaging" / "windows"))
    import check_dlls

    imports = check_dlls.pe_imports(exe.read_bytes())
    if shutil.which("objdump"):
        out = subprocess.run(["objdump", "-p", str(exe)], capture_output=True, text=True).stdout
        assert imports == [line.split("DLL Name:")[1].strip() for line in out.splitlines() if "DLL Name:" in line]
    assert "KERNEL32.dll" in imports
    n, missing = check_dlls.check([exe.parent])
    assert n >= 1 and missing == {}  # an NSIS installer needs only Windows
    check_dlls.SYSTEM = __import__("re").compile("^kernel32.dll$", __import__("re").IGNORECASE)
    try:
        assert "USER32.dll" in check_dlls.check([exe.parent])[1]
    finally:
        del sys.modules["check_dlls"]
