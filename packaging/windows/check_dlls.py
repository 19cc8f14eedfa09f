"""Check that every DLL a Windows build needs is in it: each .pyd/.dll/.exe's imported DLLs (the import and
delay-import tables, read here without Windows) must be in the build itself, in the Python runtime the build
ships, or part of Windows 10/11. The Visual C++ runtime beyond Python's own vcruntime140(_1).dll is not part
of Windows: torch needs msvcp140_atomic_wait.dll and vcruntime140_threads.dll, which the build must carry.

    python packaging/windows/check_dlls.py FOLDER_OR_WHEELS...   (an app folder, .whl files or folders of them)

Prints what is missing (exit 1) or a summary (exit 0). Runs anywhere: standard library only.
"""

from __future__ import annotations

import re
import struct
import sys
import tempfile
import zipfile
from pathlib import Path

# Windows itself (including the Universal C runtime's api-ms-win-* sets) and what every Python ships
SYSTEM = re.compile(
    r"^(api-ms-win-.*|ext-ms-.*|kernel32|kernelbase|user32|gdi32|gdiplus|advapi32|shell32|shlwapi|ole32|oleaut32|"
    r"comdlg32|comctl32|ws2_32|wsock32|winmm|version|crypt32|bcrypt|ncrypt|secur32|rpcrt4|setupapi|cfgmgr32|"
    r"dwmapi|uxtheme|imm32|iphlpapi|netapi32|userenv|wtsapi32|mpr|ntdll|psapi|dbghelp|d3d9|d3d11|d3d12|dxgi|"
    r"dcomp|opengl32|glu32|dwrite|d2d1|winspool\.drv|msvcrt|ucrtbase|authz|powrprof|shcore|mfplat|mf|mfreadwrite|"
    r"wininet|winhttp|hid|dnsapi|normaliz|propsys|oleacc|usp10|msimg32|windowscodecs|avrt|ksuser|dxcore|"
    r"mswsock|nsi|sspicli|wevtapi|pdh|ntdsapi|credui|synchronization|virtdisk|esent|cryptbase|dbgeng|"
    r"uiautomationcore|wintrust|bcryptprimitives|combase|imagehlp|mscms|d3dcompiler_47|odbc32|icuuc|icuin|icu|"
    r"cabinet|msi|python3|python3\d+|vcruntime140|vcruntime140_1)(\.dll)?$", re.IGNORECASE)
# Qt plugins for modules the app does not use (QML, Quick, 3D, PDF, virtual keyboard, SQL drivers, Designer):
# PyInstaller collects plugins only for the Qt modules a program imports
UNUSED = re.compile(r"PySide6[/\\](qml|plugins[/\\](designer|sqldrivers|qmltooling|platforminputcontexts))[/\\]"
                    r"|PySide6[/\\]plugins[/\\]imageformats[/\\]qpdf\.dll", re.IGNORECASE)


def pe_imports(data: bytes) -> list[str]:
    """The DLL names in a PE file's import and delay-import tables ([] when it is not a PE file)."""
    if data[:2] != b"MZ" or len(data) < 0x40:
        return []
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    if data[pe:pe + 4] != b"PE\0\0":
        return []
    n_sections, = struct.unpack_from("<H", data, pe + 6)
    opt_size, = struct.unpack_from("<H", data, pe + 20)
    opt = pe + 24
    magic, = struct.unpack_from("<H", data, opt)
    dirs = opt + (112 if magic == 0x20B else 96)  # PE32+ or PE32
    sections = [struct.unpack_from("<IIII", data, opt + opt_size + 40 * i + 8) for i in range(n_sections)]

    def offset(rva: int) -> int | None:
        for vsize, vaddr, rawsize, rawptr in sections:
            if vaddr <= rva < vaddr + max(vsize, rawsize):
                return rva - vaddr + rawptr
        return None

    def name_at(rva: int) -> str:
        at = offset(rva)
        return data[at:data.index(b"\0", at)].decode("ascii", "replace") if at is not None else ""

    names = []
    for index, size in ((1, 20), (13, 32)):  # import directory, delay-import directory
        rva, _ = struct.unpack_from("<II", data, dirs + 8 * index)
        at = offset(rva) if rva else None
        while at is not None and at + size <= len(data):
            entry = data[at:at + size]
            if not any(entry):
                break
            name_rva = struct.unpack_from("<I", entry, 12 if index == 1 else 4)[0]
            if name_rva:
                names.append(name_at(name_rva))
            at += size
    return [n for n in names if n]


def binaries(paths: list[Path]):
    """(name inside the build, bytes) of every .pyd, .dll and .exe in folders and wheels."""
    for path in paths:
        wheels = sorted(path.glob("*.whl")) if path.is_dir() else [path]
        if path.is_dir() and not wheels:
            for f in path.rglob("*"):
                if f.suffix.lower() in (".pyd", ".dll", ".exe") and f.is_file():
                    yield str(f.relative_to(path)), f.read_bytes()
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as z:
                for info in z.infolist():
                    if info.filename.lower().endswith((".pyd", ".dll", ".exe")):
                        yield f"{wheel.name}:{info.filename}", z.read(info)


def check(paths: list[Path]) -> tuple[int, dict[str, list[str]]]:
    files = list(binaries(paths))
    present = {Path(name.split(":")[-1]).name.lower() for name, _ in files}
    missing: dict[str, list[str]] = {}
    for name, data in files:
        if UNUSED.search(name):
            continue
        for dll in pe_imports(data):
            if dll.lower() not in present and not SYSTEM.match(dll):
                missing.setdefault(dll, []).append(name)
    return len(files), missing


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    n, missing = check([Path(a) for a in argv])
    for dll, users in sorted(missing.items()):
        print(f"missing {dll}: needed by {', '.join(users[:3])}{' ...' if len(users) > 3 else ''}")
    print(f"{n} Windows binaries checked; {'every DLL they import is present' if not missing else f'{len(missing)} DLLs missing'}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
