"""Assemble the Windows app folder on any system, without Windows: Python's embeddable distribution, the
Windows wheels unpacked, and two launchers. `installer.nsi` wraps the folder; `build_on_linux.sh` runs both.

    python packaging/windows/assemble.py --python EMBED.zip --wheels DIR --out APP_DIR

    APP_DIR/Python/                     python.exe, pythonw.exe, python311.dll ... (sys.prefix)
    APP_DIR/pkgs/                       every wheel, unpacked and compiled to .pyc
    APP_DIR/cnn-feature-explorer.exe    the app, no console window (the Start-menu entry)
    APP_DIR/cnn-feature-explorer-cli.exe  the terminal commands and --self-test

The launchers are the ones pip writes for console scripts on Windows (distlib's), with the interpreter
named relative to the launcher, so the folder works wherever it is installed. Standard library only.
"""

from __future__ import annotations

import argparse
import compileall
import io
import py_compile
import re
import shutil
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from slim import is_test  # noqa: E402  (packaging/slim.py: the tests the bundles leave out)

BUNDLE_MARKER = "cnn-feature-explorer-bundle.txt"  # explorer.resources reads it (in sys.prefix)

# What the app never uses, by path inside a wheel, besides a package's own tests (slim.is_test, as the
# PyInstaller bundles): C++ headers, import libraries and build tools, type stubs, and the Qt modules the
# app never imports (QML, Quick, PDF, Designer, SQL, Lottie, Labs ...)
DROP = re.compile(
    r"\.pyi$|\.lib$|\.pdb$"
    r"|^torch/(include|share|bin)/|^torchvision/include/"
    r"|^PySide6/(qml|metatypes|include|typesystems|glue|scripts|doc|examples|translations)/"
    r"|^PySide6/[^/]*\.exe$"
    r"|^PySide6/(Qt6(Qml|Quick|Pdf|Designer|ShaderTools|Sql|Test|Help|UiTools|Concurrent|Network|Xml|Labs|Lottie)"
    r"[^/]*\.dll|pyside6qml[^/]*\.dll"
    r"|Qt(Labs[A-Za-z]*|QmlFeatures|Qml|Quick|QuickWidgets|QuickControls2|QuickTest|Pdf|PdfWidgets|Designer|Help|Sql"
    r"|Test|UiTools|Concurrent|Network|Xml)\.pyd)$"
    r"|^PySide6/plugins/(designer|sqldrivers|qmltooling|qmllint|qmlls|platforminputcontexts|networkinformation"
    r"|tls|vectorimageformats)/|^PySide6/plugins/imageformats/qpdf\.dll$|^PySide6/plugins/generic/qtuiotouchplugin",
    re.IGNORECASE)

LAUNCHER = """# -*- coding: utf-8 -*-
import os, sys
if sys.stdout is None:  # pythonw.exe: no console; libraries that print (tqdm) must not fail
    sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")
if __name__ == "__main__":
    from explorer.__main__ import run
    run()
"""


def dropped(name: str) -> bool:
    return is_test(name) or bool(DROP.search(name))


def unpack_python(embed_zip: Path, out: Path) -> Path:
    """The embeddable distribution in out/Python, told to read ../pkgs and run site (pip's .pth files)."""
    python = out / "Python"
    with zipfile.ZipFile(embed_zip) as z:
        z.extractall(python)
    pth = sorted(python.glob("python3*._pth"))
    if not pth or not (python / "python.exe").exists():
        raise SystemExit(f"{embed_zip}: not Python's embeddable Windows distribution (no python.exe, no ._pth)")
    lines = [line for line in pth[0].read_text().splitlines() if line.strip() and not line.startswith("#")]
    pth[0].write_text("\r\n".join(lines + [r"..\pkgs", "import site"]) + "\r\n")
    return python


def unpack_wheel(wheel: Path, pkgs: Path, prefix: Path) -> tuple[int, int]:
    """Files and bytes kept. Like pip: purelib/platlib into site-packages, the data scheme into sys.prefix;
    scripts and headers are left out (the app has its own launchers)."""
    kept = size = 0
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            name = info.filename
            if name.endswith("/"):
                continue
            parts = name.split("/")
            if parts[0].endswith(".data"):
                scheme, rest = parts[1], "/".join(parts[2:])
                if scheme in ("purelib", "platlib"):
                    base, name = pkgs, rest
                elif scheme == "data":
                    base, name = prefix, rest
                else:
                    continue
            else:
                base = pkgs
            if dropped(name):
                continue
            target = base / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            kept += 1
            size += info.file_size
    return kept, size


def write_launcher(path: Path, console: bool) -> None:
    """distlib's launcher + a shebang relative to it + the script as a zip (what pip writes on Windows)."""
    from pip._vendor.distlib import scripts  # every Python with pip has distlib's Windows launchers

    stub = (Path(scripts.__file__).parent / ("t64.exe" if console else "w64.exe")).read_bytes()
    interpreter = "python.exe" if console else "pythonw.exe"
    shebang = f"#!<launcher_dir>\\Python\\{interpreter}\r\n".encode()
    script = io.BytesIO()
    with zipfile.ZipFile(script, "w") as z:
        z.writestr("__main__.py", LAUNCHER)
    path.write_bytes(stub + shebang + script.getvalue())


def assemble(embed_zip: Path, wheels: list[Path], out: Path, version: str) -> dict:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    python = unpack_python(embed_zip, out)
    pkgs = out / "pkgs"
    pkgs.mkdir()
    files = size = 0
    for wheel in wheels:
        kept, nbytes = unpack_wheel(wheel, pkgs, python)
        files, size = files + kept, size + nbytes
    for dll in python.glob("Scripts/vcruntime140*.dll"):  # msvc-runtime's newer VC++ runtime, beside python.exe
        shutil.copy2(dll, python / dll.name)
    shutil.rmtree(python / "Scripts", ignore_errors=True)
    (python / BUNDLE_MARKER).write_text(f"CNN Feature Explorer {version}\n")
    write_launcher(out / "cnn-feature-explorer.exe", console=False)
    write_launcher(out / "cnn-feature-explorer-cli.exe", console=True)
    # compiled once here: Program Files is read-only, so otherwise every start compiles torch in memory.
    # unchecked-hash .pyc stay valid whatever time stamps the installer gives the sources.
    compileall.compile_dir(str(pkgs), quiet=1, workers=0, rx=re.compile(r"py3(1[2-9])_"),  # newer syntax
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    return {"wheels": len(wheels), "files": files, "bytes": size}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--python", required=True, type=Path, help="Python's embeddable Windows .zip (amd64)")
    p.add_argument("--wheels", required=True, type=Path, help="a folder of win_amd64 / pure-Python wheels")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--version", default="0.1.0")
    args = p.parse_args(argv)
    if sys.version_info[:2] != (3, 11):
        print(f"warning: compiling .pyc with Python {sys.version.split()[0]}; the bundle runs 3.11, "
              "so they will be ignored", file=sys.stderr)
    wheels = sorted(args.wheels.glob("*.whl"))
    if not wheels:
        print(f"no wheels in {args.wheels}", file=sys.stderr)
        return 2
    done = assemble(args.python, wheels, args.out, args.version)
    total = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"{args.out}: {done['wheels']} wheels, {done['files']} files kept, {total / 2**20:.0f} MiB with .pyc")
    return 0


if __name__ == "__main__":
    sys.exit(main())
