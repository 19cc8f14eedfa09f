"""The self-test leaves nothing behind in the temporary folder (issue 15: every run of a bundle's
--self-test left an explorer-selftest-* folder with a run folder and a cache in /tmp)."""

import json
import os
import subprocess
import sys

import pytest


def _self_test(tmp_path, *args, **env):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TMPDIR=str(tmp), **env)
    env.pop("EXPLORER_CACHE_DIR", None)  # as a user runs it: the self-test picks its own cache
    proc = subprocess.run([sys.executable, "-m", "explorer", "--self-test", *args], env=env, capture_output=True,
                          text=True, timeout=300)
    # torch itself keeps a torchinductor_<user> cache there, as it does for any torch program
    return proc, sorted(p.name for p in tmp.iterdir() if not p.name.startswith("torchinductor_"))


@pytest.mark.slow
def test_a_passing_self_test_removes_its_folder(tmp_path):
    proc, left = _self_test(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert left == []


def test_a_failing_self_test_removes_its_folder_and_keeps_the_report_asked_for(tmp_path):
    report = tmp_path / "r.json"
    proc, left = _self_test(tmp_path, "--report", str(report), EXPLORER_SELFTEST_IMAGES=str(tmp_path / "nowhere"))
    assert proc.returncode == 1
    assert left == []
    assert "nowhere" in json.loads(report.read_text())["reason"]
