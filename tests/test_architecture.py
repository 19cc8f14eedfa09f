"""The layering of DESIGN.md, enforced: import-linter's contracts in pyproject.toml."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("import-linter is not installed: install the project with its [test] extra")
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "broken" not in proc.stdout.lower().replace("0 broken", "")


def test_core_imports_no_qt_at_run_time():
    """Import every core module (all sub-packages) and check that no Qt module was loaded."""
    code = ("import sys, pkgutil, importlib, explorer.core as core\n"
            "for m in pkgutil.walk_packages(core.__path__, 'explorer.core.'): importlib.import_module(m.name)\n"
            "print([m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'superqt')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
