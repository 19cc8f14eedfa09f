"""Set up a local virtual environment and run the app or the tests in it.

    python3 -m explorer.bootstrap          # install if needed, then launch the app
    python3 -m explorer.bootstrap test     # install if needed, then run the test suite

Only the standard library is used here: this runs before anything is installed.
The install is skipped when pyproject.toml has not changed since the last one,
so a second call costs a few hundred milliseconds.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"


def _venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def _stamp(extras: str) -> str:
    text = (ROOT / "pyproject.toml").read_bytes() + sys.version.encode() + extras.encode()
    return hashlib.sha256(text).hexdigest()


def ensure_environment(extras: str = "") -> Path:
    """Create .venv and install the project (editable) unless it is already current."""
    python = _venv_python()
    if not python.exists():
        print(f"Creating a virtual environment in {VENV} ...", flush=True)
        try:
            venv.create(VENV, with_pip=True)
        except Exception as exc:  # ensurepip missing on some Linux distributions
            sys.exit(f"Could not create {VENV}: {exc}\n"
                     "Install your system's venv package (e.g. 'apt install python3-venv') and retry.")
    stamp_file = VENV / f".explorer-installed{'-' + extras if extras else ''}"
    stamp = _stamp(extras)
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return python
    target = f".[{extras}]" if extras else "."
    print(f"Installing CNN Feature Explorer and its dependencies ({target}) ...", flush=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=False)
    result = subprocess.run([str(python), "-m", "pip", "install", "-e", target], cwd=ROOT)
    if result.returncode != 0:
        sys.exit("Installing the dependencies failed (see pip's message above).")
    stamp_file.write_text(stamp)
    return python


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "test":
        python = ensure_environment("test")
        env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
        return subprocess.call([str(python), "-m", "pytest", *args[1:]], cwd=ROOT, env=env)
    python = ensure_environment("")
    return subprocess.call([str(python), "-m", "explorer", *args], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
