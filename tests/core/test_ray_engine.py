"""Embedding on Ray Data (issue 16): the same run as the local engine, on a local Ray cluster of this machine.

Features, predictions, row order and failures (a broken file) equal the local engine's; a run cancelled under Ray resumes with the local
engine computing only the rest (the engines share runs); a worker killed mid-run is replaced and the run
completes with the same numbers.
"""

import os
import signal
import threading
import time

import numpy as np
import pytest
from PIL import Image

from explorer.core.data.datasets import open_dataset
from explorer.core.engine.embedding import embed_dataset
from explorer.core.model.zoo import load_model
from explorer.core.progress import run_to_end

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray") / "images"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(7):
            Image.fromarray(rng.integers(0, 255, (48 + i, 60, 3), dtype=np.uint8)).save(root / label / f"{i}.jpg")
    (root / "b" / "broken.jpg").write_bytes(b"not a jpeg")
    return root


def local_run(folder, model, out):
    return run_to_end(embed_dataset(open_dataset(folder), model, "layer3.1.add", out=out, device="cpu",
                                    batch_size=4, workers=0)).run


def same(a, b):
    assert [r.path for r in a.rows] == [r.path for r in b.rows]
    assert [a.status(i) for i in range(len(a))] == [b.status(i) for i in range(len(b))]
    ok = np.asarray(a.state) == 1
    fa, fb = np.asarray(a.features, np.float64)[ok], np.asarray(b.features, np.float64)[ok]
    cos = (fa * fb).sum(1) / (np.linalg.norm(fa, axis=1) * np.linalg.norm(fb, axis=1))
    assert cos.min() > 0.999, cos
    assert np.array_equal(np.asarray(a.array("top5_classes"))[ok], np.asarray(b.array("top5_classes"))[ok])


def test_ray_gives_the_local_run_and_the_engines_resume_each_other(folder, tmp_path):
    model = load_model("resnet18", "random", image_size=64)
    local = local_run(folder, model, tmp_path / "local")
    work = embed_dataset(open_dataset(folder), model, "layer3.1.add", out=tmp_path / "ray", batch_size=2,
                         engine="ray", engine_options={"workers": 1})
    for step in work:
        if step.done and step.label.endswith("images/s"):
            work.close()  # cancelled under Ray after its first batch
            break
    ray_run = run_to_end(embed_dataset(open_dataset(folder), model, "layer3.1.add", out=tmp_path / "ray",
                                       device="cpu", batch_size=4, workers=0))
    assert 0 < ray_run.computed < len(local)  # only the rows Ray had not written
    same(ray_run.run, local)

def _forward_workers() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"Forward" in f.read():
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def test_a_worker_killed_mid_run_is_replaced(folder, tmp_path):
    model = load_model("resnet18", "random", image_size=64)
    local = local_run(folder, model, tmp_path / "local")
    killed = []
    stop = threading.Event()

    def killer():  # kill -9 the first network actor as soon as it exists
        while not stop.is_set() and not killed:
            for pid in _forward_workers():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        run = run_to_end(embed_dataset(open_dataset(folder), model, "layer3.1.add", out=tmp_path / "ray",
                                       batch_size=2, engine="ray", engine_options={"workers": 1})).run
    finally:
        stop.set()
        thread.join()
    assert killed, "no network actor was seen to kill"
    assert run.complete
    same(run, local)
