"""The .deb's Depends: line, read from the app folder's own binaries.

    python3 packaging/linux/deb_depends.py APP_FOLDER      -> libc6 (>= 2.34), libegl1, libgl1, ...

- libc6 (>= V): V is the newest GLIBC_ symbol version any bundled binary needs (a bundle built on a
  newer system than the user's installs and then fails to start: this makes dpkg refuse it instead).
- every library a bundled binary links that the bundle does not carry, as the Debian package that
  provides it on the build machine (dpkg -S): Qt's xcb plugin's libxcb-* and libxkbcommon-x11, libGL, ...
- the libraries Qt's xcb platform plugin needs are checked: when one is missing on the build machine the
  window could not open there either, so the build stops and names the packages to install.
Standard library only; needs objdump (binutils) and dpkg.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# the xcb plugin's own libraries: always declared (issue 15), whether or not the bundle carries a copy
XCB_PACKAGES = ("libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0", "libxcb-image0", "libxcb-render-util0",
                "libxcb-randr0", "libxcb-shape0", "libxcb-xkb1", "libxkbcommon-x11-0", "libxkbcommon0")
_GLIBC = re.compile(r"\bGLIBC_(\d+)\.(\d+)(?:\.(\d+))?\b")


def is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def elf_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p))


def read_elf(path: Path) -> tuple[list[str], set[tuple[int, ...]]]:
    """(DT_NEEDED libraries, GLIBC versions it requires) from `objdump -p`."""
    out = subprocess.run(["objdump", "-p", str(path)], capture_output=True, text=True, check=True).stdout
    needed = [line.split()[1] for line in out.splitlines() if line.strip().startswith("NEEDED")]
    refs = out.split("Version References:", 1)[1] if "Version References:" in out else ""
    versions = {tuple(int(g) for g in m.groups() if g is not None) for m in _GLIBC.finditer(refs)}
    return needed, versions


def debian_packages(libraries) -> dict[str, str]:
    """{library file name: the installed package that provides it} (one dpkg -S for all of them)."""
    libraries = sorted(set(libraries))
    if not libraries:
        return {}
    try:
        out = subprocess.run(["dpkg", "-S", *(f"*/{lib}" for lib in libraries)], capture_output=True, text=True).stdout
    except OSError:
        return {}
    found = {}
    for line in out.splitlines():
        if ": " not in line or line.startswith("diversion"):
            continue
        packages, path = line.split(": ", 1)
        package = packages.split(",")[0].split(":")[0].strip()
        # Ubuntu 24.04's 64-bit-time packages (libglib2.0-0t64) provide their old names, which 22.04 has
        found.setdefault(Path(path).name, package[:-3] if package.endswith("t64") else package)
    return {lib: found[lib] for lib in libraries if lib in found}


def debian_package(library: str) -> str | None:
    return debian_packages([library]).get(library)


def depends(folder: Path, find_package=debian_package) -> tuple[list[str], list[str]]:
    """(the Depends entries, the linked libraries no package was found for)."""
    files = elf_files(folder)
    carried = {p.name for p in folder.rglob("*")}
    glibc: set[tuple[int, ...]] = set()
    system: dict[str, list[str]] = {}
    for path in files:
        needed, versions = read_elf(path)
        glibc |= versions
        for lib in needed:
            if lib not in carried:
                system.setdefault(lib, []).append(str(path.relative_to(folder)))
    packages, missing = {}, []
    known = debian_packages(system) if find_package is debian_package else {}
    for lib in sorted(system):
        package = known[lib] if lib in known else find_package(lib)
        if package is None:
            missing.append(lib)
        elif package != "libc6":
            packages[package] = True
    newest = ".".join(map(str, max(glibc))) if glibc else None
    entries = [f"libc6 (>= {newest})" if newest else "libc6"]
    entries += sorted(set(packages) | set(XCB_PACKAGES))
    return entries, missing


def xcb_problem(folder: Path, missing: list[str]) -> str | None:
    """A library Qt's xcb plugin (or its libQt6XcbQpa) links and nothing provides: the window cannot open."""
    plugins = [p for p in folder.rglob("*") if p.name in ("libqxcb.so", "libQt6XcbQpa.so.6") and is_elf(p)]
    needed = {lib for p in plugins for lib in read_elf(p)[0]}
    absent = sorted(needed & set(missing))
    if not absent:
        return None
    return (f"Qt's xcb plugin needs {', '.join(absent)}, which no installed package provides here; install them "
            f"before building (Debian/Ubuntu: sudo apt-get install {' '.join(XCB_PACKAGES)})")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: deb_depends.py APP_FOLDER", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    entries, missing = depends(folder)
    problem = xcb_problem(folder, missing)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    if missing:  # optional plugins (Wayland, EGL devices) whose libraries this machine lacks: said, not fatal
        print(f"note: no package found for {', '.join(missing)}", file=sys.stderr)
    print(", ".join(entries))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
