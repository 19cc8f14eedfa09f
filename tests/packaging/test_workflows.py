"""The release workflow (.github/workflows/release.yml, issue 15) passes actionlint and shellcheck, and
every script it calls exists and is itself shellcheck-clean. actionlint runs when installed (see
packaging/check_workflows.py); otherwise that test is skipped."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging"))
import check_workflows  # noqa: E402

RELEASE = ROOT / ".github" / "workflows" / "release.yml"


def test_the_workflows_pass_actionlint():
    proc = subprocess.run([sys.executable, str(ROOT / "packaging" / "check_workflows.py")], capture_output=True,
                          text=True, timeout=300)
    if proc.returncode == 3:
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("clean:")


def test_a_broken_workflow_is_caught(tmp_path, monkeypatch):
    if check_workflows.actionlint() is None:
        pytest.skip("actionlint is not installed")
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-22.04\n    steps:\n"
                   "      - run: echo ${{ secrets.X }}\n        if: secrets.X != ''\n"
                   "      - run: for f in $(ls *.deb); do echo $f; done\n")
    monkeypatch.setattr(check_workflows, "WORKFLOWS", [bad])
    _, findings = check_workflows.actionlint()
    assert any("secrets" in line for line in findings)  # the secrets context is not allowed in if:
    if shutil.which("shellcheck"):
        assert any("SC2045" in line or "SC2086" in line for line in check_workflows.shellcheck_runs())


def test_every_script_the_workflow_calls_exists():
    text = RELEASE.read_text()
    called = set(re.findall(r"(packaging/[\w./-]+\.(?:sh|ps1|md))", text))
    assert {"packaging/build.sh", "packaging/smoke_test.sh", "packaging/macos/build.sh", "packaging/windows/build_on_linux.sh",
            "packaging/release_assets.sh"} <= called
    for path in called:
        assert (ROOT / path).exists(), path


def test_the_workflow_builds_every_flavour_and_platform():
    import yaml

    doc = yaml.safe_load(RELEASE.read_text())
    jobs = doc["jobs"]
    assert jobs["linux"]["strategy"]["matrix"]["flavour"] == ["cpu", "cuda"]
    assert {i["arch"] for i in jobs["macos"]["strategy"]["matrix"]["include"]} == {"arm64", "x86_64"}
    assert set(jobs["release"]["needs"]) == {"linux", "windows", "macos"}
    # the Windows installer is built on Linux (as here) and installed and self-tested on Windows
    assert "build_on_linux.sh" in str(jobs["windows-build"]["steps"]) and jobs["windows"]["needs"] == "windows-build"
    assert jobs["windows"]["runs-on"].startswith("windows") and "smoke_test.ps1" in str(jobs["windows"]["steps"])
    assert jobs["release"]["permissions"] == {"contents": "write"}
    # signing secrets reach the macOS job through env:, so a missing secret skips the step instead of failing
    assert all(f"secrets.{s}" in str(jobs["macos"]["env"]) for s in ("MACOS_CERTIFICATE", "APPLE_ID"))


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_the_packaging_scripts_pass_shellcheck():
    scripts = sorted(str(p) for p in (ROOT / "packaging").rglob("*.sh"))
    proc = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
