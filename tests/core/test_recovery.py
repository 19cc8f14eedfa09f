"""Nothing is lost: changed folders reuse rows, damaged runs rebuild, killed runs resume, OOM adapts."""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from explorer.core.data.datasets import open_dataset
from explorer.core.engine.embedding import embed_dataset
from explorer.core.model.zoo import load_model
from explorer.core.progress import run_to_end
from explorer.core.run.store import load_run


def embed(folder, out=None, **kw):
    model = load_model("resnet18", "random", image_size=64)
    return run_to_end(embed_dataset(open_dataset(folder), model, "layer3.1.add", out=out, batch_size=4, **kw))


def change_folder(root):
    """Add one file, modify one, remove one."""
    files = sorted(root.rglob("*.png"))
    shutil.copy(files[0], root / "things" / "added.png")
    from PIL import Image

    img = Image.open(files[1]).convert("RGB")
    img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(files[1])
    os.utime(files[1], ns=(time.time_ns(), time.time_ns() + 10**9))
    files[2].unlink()
    return files[1].relative_to(root).as_posix(), files[2].relative_to(root).as_posix()


@pytest.mark.parametrize("where", ["out", "cache"])
def test_changed_files_are_recomputed_and_the_rest_reused(photo_folder, tmp_path, where):
    root = tmp_path / "photos"
    shutil.copytree(photo_folder, root)
    out = tmp_path / "run" if where == "out" else None
    first = embed(root, out)
    before = {r.path: np.asarray(first.run.features[r.index]).copy() for r in first.run.rows}
    modified, removed = change_folder(root)

    second = embed(root, out)
    assert second.computed == 2  # the added and the modified file, nothing else
    run = second.run
    paths = [r.path for r in run.rows]
    assert removed not in paths and "things/added.png" in paths and len(run) == 8 and run.complete
    for r in run.rows:
        if r.path in before and r.path != modified:
            np.testing.assert_array_equal(np.asarray(run.features[r.index]), before[r.path])
    fresh = embed(root, tmp_path / "fresh")
    np.testing.assert_allclose(np.asarray(run.features, np.float32), np.asarray(fresh.run.features, np.float32),
                               rtol=1e-3, atol=1e-3)
    if where == "out":
        assert not (tmp_path / "run.updating").exists()


@pytest.mark.parametrize("damage", ["manifest", "features", "state", "items"])
def test_a_damaged_run_folder_is_rebuilt(photo_folder, tmp_path, damage):
    out = tmp_path / "run"
    first = embed(photo_folder, out)
    reference = np.asarray(first.run.features).copy()
    del first
    target = {"manifest": "manifest.json", "features": "features.npy", "state": "state.npy",
              "items": "items.csv"}[damage]
    data = (out / target).read_bytes()
    (out / target).write_bytes(data[: len(data) // 3])  # cut short, as a full disk or a crash would
    again = embed(photo_folder, out)
    assert again.run.complete and again.computed == 8
    np.testing.assert_array_equal(np.asarray(again.run.features), reference)


def test_out_of_memory_halves_the_batch_then_falls_back_to_the_cpu(photo_folder, tmp_path, monkeypatch):
    import torch

    from explorer.core.model.graph import ModelGraph

    real = ModelGraph.extractor  # the seam: every extractor is cut from the model's one graph
    calls = []

    class Flaky(torch.nn.Module):
        """Raises CUDA-style OOM for batches over 2 images while on the 'GPU' (first device)."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.fallen_back = False

        def forward(self, x):
            calls.append(len(x))
            if not self.fallen_back and len(x) > 2:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return self.inner(x)

    flaky = {}
    monkeypatch.setattr(ModelGraph, "extractor",
                        lambda self, *a, **k: flaky.setdefault("m", Flaky(real(self, *a, **k))))
    model = load_model("resnet18", "random", image_size=64)
    labels = []
    # whole batches: a DataLoader worker decodes (the CPU's lanes would share each batch out in chunks)
    work = embed_dataset(open_dataset(photo_folder), model, "layer3.1.add", out=tmp_path / "oom", batch_size=8,
                         workers=1)
    while True:
        try:
            labels.append(next(work).label)
        except StopIteration as stop:
            result = stop.value
            break
    assert result.run.complete and result.computed == 8
    assert calls[:3] == [8, 4, 2] and max(calls[3:]) <= 2  # halved 8 -> 4 -> 2, and stayed there
    assert any("out of memory" in l and "batch 2" in l for l in labels)
    monkeypatch.undo()
    straight = embed(photo_folder, tmp_path / "straight")
    np.testing.assert_allclose(np.asarray(result.run.features, np.float32),
                               np.asarray(straight.run.features, np.float32), rtol=1e-3, atol=1e-3)


def test_out_of_memory_at_batch_one_moves_to_the_cpu():
    import torch

    from explorer.core.engine.embedding import AdaptiveForward

    seen = []

    def forward(x, device):
        seen.append((len(x), device.type))
        if device.type != "cpu":
            raise torch.OutOfMemoryError("CUDA out of memory")
        return x * 2

    adaptive = AdaptiveForward(forward, torch.device("meta"), batch_size=4)
    out = torch.cat(adaptive(torch.ones(4, 3)))
    assert torch.equal(out, torch.full((4, 3), 2.0))
    assert adaptive.device.type == "cpu" and "falling back to the CPU" in adaptive.message
    assert seen[:3] == [(4, "meta"), (2, "meta"), (1, "meta")] and seen[3] == (4, "cpu")


def _cli(folder, out, *extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "explorer", "embed", str(folder), "--out", str(out),
                             "--model", "resnet18", "--weights", "random", "--batch-size", "4", "--image-size", "112",
                             *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a shell that starts this suite in the background makes children ignore SIGINT
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _done_rows(out):
    try:
        return int((np.load(out / "state.npy", mmap_mode="r") == 1).sum())
    except (OSError, ValueError):
        return 0


@pytest.mark.parametrize("how", ["kill -9", "ctrl-c"])
def test_killed_or_interrupted_cli_resumes_with_identical_features(crops_folder, tmp_path, how):
    out = tmp_path / "run"
    proc = _cli(crops_folder, out)
    deadline = time.time() + 120
    while _done_rows(out) < 12 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    if how == "kill -9":
        proc.kill()
        proc.wait()
    else:
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        assert time.perf_counter() - sent < 1.5  # stops within about a second
        assert proc.returncode == 130 and "run the same command again to resume" in proc.stderr.read()
    kept = _done_rows(out)
    assert 12 <= kept < 120

    again = _cli(crops_folder, out)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert f"{120 - kept:,} images in" in stdout  # only the missing rows were computed
    straight = _cli(crops_folder, tmp_path / "straight")
    straight.communicate(timeout=300)
    a, b = load_run(out), load_run(tmp_path / "straight")
    np.testing.assert_array_equal(np.asarray(a.features), np.asarray(b.features))
    np.testing.assert_array_equal(np.asarray(a.channel_argmax), np.asarray(b.channel_argmax))
