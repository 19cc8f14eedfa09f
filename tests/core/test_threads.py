"""Thread counts follow the free cores (usable cores less the load), or EXPLORER_THREADS."""

import pytest

from explorer.core import threads
from explorer.core.errors import ExplorerError


def test_free_cores_are_the_usable_ones_less_the_load(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    assert threads.free_cores(cores=8, load=0.0) == 8
    assert threads.free_cores(cores=8, load=2.6) == 5
    assert threads.free_cores(cores=2, load=1.2) == 1
    assert threads.free_cores(cores=2, load=7.5) == 1  # never none
    monkeypatch.setattr(threads, "_runnable", lambda: None)  # no /proc/loadavg: the 1-minute load average
    monkeypatch.setattr(threads, "_last", None)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (3.0, 0.5, 0.1))
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    assert threads.free_cores() == 1
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.2, 0.5, 0.1))
    assert threads.free_cores() == 4


def test_no_load_average_means_free_cores(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)

    def missing():
        raise OSError("no load average here")

    monkeypatch.setattr(threads.os, "getloadavg", missing)
    monkeypatch.setattr(threads, "_runnable", lambda: None)
    monkeypatch.setattr(threads, "_last", None)
    assert threads.free_cores(cores=6) == 6


def test_the_load_is_what_runs_now_not_the_last_minute(monkeypatch, tmp_path):
    """The threads runnable now (less the reader), the median of a few readings; the lagging 1-minute
    average only where /proc/loadavg is missing."""
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.7, 2.0, 2.5))  # a job that has just ended
    readings = iter(2 * ["1.70 2.00 2.50 1/80 9\n", "1.70 2.00 2.50 3/80 9\n", "1.70 2.00 2.50 1/80 9\n",
                         "1.70 2.00 2.50 1/80 9\n", "1.70 2.00 2.50 2/80 9\n"])
    real_open = open

    def fake_open(path, *a, **k):
        if path == "/proc/loadavg":
            import io

            return io.StringIO(next(readings))
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", fake_open)
    monkeypatch.setattr(threads, "_last", None)
    assert threads.load_average() == 0.0  # readings 0, 2, 0, 0, 1: median 0
    monkeypatch.setattr(threads, "_last", None)
    assert threads.free_cores(cores=2) == 2  # the 1-minute average (1.7) would have left one


def test_a_reading_is_reused_for_two_seconds(monkeypatch):
    """Searches size their threads per query: reading /proc five times (20 ms) each time made an
    approximate neighbour query at 1M take 24 ms instead of a few."""
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "_last", None)
    calls = []
    monkeypatch.setattr(threads, "_runnable", lambda: calls.append(1) or 1.0)
    assert [threads.free_cores(cores=4) for _ in range(50)] == [3] * 50
    assert len(calls) == 1


def test_the_environment_fixes_the_count(monkeypatch):
    monkeypatch.setenv(threads.ENV, "3")
    assert threads.free_cores(cores=2, load=5.0) == 3
    monkeypatch.setenv(threads.ENV, "none")
    with pytest.raises(ExplorerError, match="EXPLORER_THREADS must be a whole number"):
        threads.free_cores()


def test_blas_threads_limits_and_restores():
    from threadpoolctl import threadpool_info

    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    with threads.blas_threads(1):
        assert all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before


def test_the_cli_threads_option_reaches_t_sne(tmp_path, monkeypatch, capsys):
    import numpy as np
    import openTSNE.affinity

    from explorer.cli.main import main
    from explorer.core.run.arrays import plan
    from explorer.core.run.folder import create_run
    from explorer.core.run.store import Row

    monkeypatch.delenv(threads.ENV, raising=False)
    n, d = 80, 6
    infos = [{"name": "f", "shape": [d]}]
    manifest = {"dataset": {"root": str(tmp_path / "images"), "classes": ["a"]}, "model": "synthetic",
                "weights": "none", "layers": infos, "arrays": plan(infos, ["features"]), "input_size": 8,
                "preprocess": {"resize": 8, "crop": 8}, "key": "synthetic"}
    run = create_run(tmp_path / "run", manifest, [Row(i, f"a/{i}.png", "a") for i in range(n)])
    run.write_rows(np.arange(n), {("features", "f"): np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)})
    run.save(complete=True)
    seen = []
    real = openTSNE.affinity.PerplexityBasedNN.__init__

    def recording(self, *args, **kwargs):
        seen.append(kwargs.get("n_jobs"))
        real(self, *args, **kwargs)

    monkeypatch.setattr(openTSNE.affinity.PerplexityBasedNN, "__init__", recording)
    try:
        assert main(["project", str(tmp_path / "run"), "--method", "tsne", "--threads", "1"]) == 0
        assert seen == [1]
    finally:
        import os

        os.environ.pop(threads.ENV, None)
    assert main(["project", str(tmp_path / "run"), "--threads", "0"]) == 2
    assert "--threads: must be a whole number of threads" in capsys.readouterr().err
