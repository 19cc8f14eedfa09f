"""`explorer --self-test`: the check every built bundle runs, run here from source."""

import json
import os
import subprocess
import sys


def test_self_test_passes_and_reports(tmp_path):
    report, shot = tmp_path / "report.json", tmp_path / "window.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", EXPLORER_CACHE_DIR=str(tmp_path / "cache"),
               TMPDIR=str(tmp_path))  # the self-test's own folder of report and screenshot goes here too
    proc = subprocess.run([sys.executable, "-m", "explorer", "--self-test", "--report", str(report),
                           "--screenshot", str(shot)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(report.read_text())
    assert data["ok"] and all(data["checks"].values()) and len(data["checks"]) == 8
    assert data["checks"]["window_before_torch"]  # the window is up before torch is imported
    assert data["versions"]["torch"] and data["device"].startswith(("cpu", "cuda", "mps"))
    assert "espresso" in data["predictions"]["coffee.jpg"]
    assert shot.stat().st_size > 10_000


def test_self_test_fails_with_a_reason(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", EXPLORER_CACHE_DIR=str(tmp_path / "cache"),
               EXPLORER_SELFTEST_IMAGES=str(tmp_path / "nowhere"), TMPDIR=str(tmp_path))
    report = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "explorer", "--self-test", "--report", str(report)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    data = json.loads(report.read_text())
    assert not data["ok"] and "nowhere" in data["reason"]
