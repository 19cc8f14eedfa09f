"""Embedding on the CPU in lanes (issue 18): threads that each decode their own chunks of rows and run them
through the network, instead of one decode thread beside a forward pass on every core."""

import threading
import time

import numpy as np
import pytest
import torch

from explorer.core.data.datasets import open_dataset
from explorer.core.engine.embedding import embed_dataset
from explorer.core.engine.lanes import CHUNK_SECONDS, Lanes, Pace, Stopped, interruptible, lane_chunks, lane_plan
from explorer.core.model.zoo import load_model
from explorer.core.progress import run_to_end


def _lane_threads():
    return [t for t in threading.enumerate() if t.name.startswith("embedding lane")]


def test_lane_plan_shares_out_the_cores_and_the_batch():
    assert lane_plan(64, cores=2) == (2, 1, 32)
    assert lane_plan(64, cores=1) == (1, 1, 64)
    assert lane_plan(64, cores=16) == (4, 4, 16)  # at most 4 lanes; the cores shared among them
    assert lane_plan(3, cores=2) == (1, 2, 3)  # a chunk holds 2 images or more: one lane, as before
    assert lane_plan(5, cores=2) == (2, 1, 3)


def test_chunks_cover_every_row_once_and_shrink_at_the_end():
    for n in (1, 2, 7, 100, 1500):
        chunks = list(lane_chunks(n, 32, 2))
        assert [k for c in chunks for k in c] == list(range(n))
        assert all(len(c) >= 2 for c in chunks[:-1]) and max(len(c) for c in chunks) <= 32
    sizes = [len(c) for c in lane_chunks(1500, 32, 2)]
    assert sizes[:40] == [32] * 40 and sizes[-4:] == [2, 2, 2, 2]  # the last ones small: the lanes end together
    pace = Pace()
    for per_image in (None, 0.003, 0.02, 0.07, 0.3):
        pace.per_image = per_image
        for n in (1000, 77):
            sizes = [len(c) for c in lane_chunks(n, 24, 2, pace)][:-1]  # (the last one takes what is left)
            assert set(sizes) <= {24, 16, 8, 4, 2}, sizes  # few shapes: each costs oneDNN a set-up


def test_chunks_are_sized_to_a_short_forward_pass():
    pace = Pace()
    chunks = lane_chunks(10_000, 32, 2, pace)
    assert len(next(chunks)) == 8  # nothing measured yet
    pace.observe(16, 16 * 0.1)  # a slow network: 0.1 s an image
    assert len(next(chunks)) == 4 == round(CHUNK_SECONDS / 0.1)
    pace.observe(4, 4 * 2.0)  # a very slow one: 2 images still
    assert len(next(chunks)) == 2
    pace.observe(16, 16 * 0.001)  # a fast one: up to the batch's share
    assert len(next(chunks)) == 32


def test_every_chunk_comes_out_once_with_each_lanes_own_threads():
    from threadpoolctl import threadpool_info

    if not any(lib["user_api"] == "openmp" for lib in threadpool_info()):
        pytest.skip("no OpenMP runtime loaded")
    names = set()

    def forward(chunk):
        names.add(threading.current_thread().name)
        return chunk, torch.get_num_threads()

    out = list(Lanes(range(40), lambda k: forward(k * 10), lanes=2, threads=1))
    assert sorted(k for k, _ in out) == [k * 10 for k in range(40)]  # each once, in any order
    assert {n for _, n in out} == {1}
    assert names <= {"embedding lane 0", "embedding lane 1"}
    assert not _lane_threads()


def test_a_failure_in_a_lane_ends_the_iteration_and_stops_the_lanes():
    def decode(k):
        if k == 7:
            raise ValueError("decoder bug on chunk 7")
        return k

    with pytest.raises(ValueError, match="chunk 7"):
        for _ in Lanes(range(1000), decode, lanes=2):
            pass
    assert not _lane_threads()


def test_closing_stops_the_lanes_after_their_current_chunk():
    started = []

    def forward(k):
        started.append(k)
        time.sleep(0.02)
        return k

    lanes = Lanes(range(10_000), forward, lanes=2)
    next(lanes)
    t = time.perf_counter()
    lanes.close()
    assert time.perf_counter() - t < 1.0 and not _lane_threads()
    assert len(started) < 100
    with pytest.raises(StopIteration):
        next(lanes)


def test_a_long_chunk_gives_heartbeats_so_a_generator_over_the_lanes_can_be_closed():
    lanes = Lanes(range(2), lambda k: time.sleep(0.4) or k, lanes=1, heartbeat=0.05)
    t = time.perf_counter()
    assert next(lanes) is None and time.perf_counter() - t < 0.3  # still at work: a beat, not a wait
    assert sorted(k for k in lanes if k is not None) == [0, 1]


class _Slow(torch.nn.Module):
    def forward(self, x):
        time.sleep(0.02)
        return x + 1


def test_closing_interrupts_a_forward_pass_within_a_layer():
    model = torch.nn.Sequential(*[torch.nn.Sequential(_Slow(), _Slow()) for _ in range(25)])  # 1 s a pass
    stop = threading.Event()
    handles = interruptible(model, stop)
    assert len(handles) == 50  # the leaves only
    passes = []
    lanes = Lanes(range(100), lambda k: passes.append(model(torch.zeros(1))), lanes=2, stop=stop, heartbeat=0.05)
    assert next(lanes) is None
    t = time.perf_counter()
    lanes.close()
    assert time.perf_counter() - t < 0.3 and not _lane_threads()  # a layer (20 ms), not a pass (1 s)
    assert passes == []
    stop.clear()
    assert model(torch.zeros(1)).item() == 50  # the hooks only act once stopped
    stop.set()
    with pytest.raises(Stopped):
        model(torch.zeros(1))


def test_lanes_give_the_features_of_one_stream_to_the_bit(photo_folder, tmp_path, monkeypatch):
    from PIL import Image

    import shutil

    folder = tmp_path / "photos"
    shutil.copytree(photo_folder, folder)
    (folder / "animals" / "broken.jpg").write_bytes(b"not a jpeg")  # a failure inside a lane's chunk
    Image.new("RGBA", (40, 30), (200, 10, 10, 120)).save(folder / "animals" / "seethrough.png")
    model = load_model("resnet18", "random", image_size=64)
    dataset = open_dataset(folder)
    used = []
    real = Lanes.__init__

    def spy(self, *a, **k):
        used.append(k["lanes"])
        real(self, *a, **k)

    monkeypatch.setattr(Lanes, "__init__", spy)
    monkeypatch.setenv("EXPLORER_THREADS", "2")
    lanes = run_to_end(embed_dataset(dataset, model, "layer3.1.add", out=tmp_path / "lanes", batch_size=4)).run
    assert used == [2]
    monkeypatch.setenv("EXPLORER_THREADS", "1")  # one stream: a DataLoader worker decodes, this thread runs it
    one = run_to_end(embed_dataset(dataset, model, "layer3.1.add", out=tmp_path / "one", batch_size=4,
                                   workers=1)).run
    assert used == [2]
    assert lanes.counts() == one.counts() and lanes.counts()["failed"] == 1
    assert [r.path for r in lanes.rows] == [r.path for r in one.rows]
    for name in ("features", "channel_max", "channel_argmax"):
        np.testing.assert_array_equal(np.asarray(getattr(lanes, name)), np.asarray(getattr(one, name)))
    assert np.array_equal(np.asarray(lanes.state), np.asarray(one.state))


def test_the_apps_batches_give_the_features_of_whole_batches(photo_folder, tmp_path, monkeypatch):
    """batch_size=None (the app's): chunks sized to the pace, 2 to 16 images; the same numbers to the bit."""
    monkeypatch.setenv("EXPLORER_THREADS", "2")
    model = load_model("resnet18", "random", image_size=64)
    dataset = open_dataset(photo_folder)
    app = run_to_end(embed_dataset(dataset, model, "layer3.1.add", out=tmp_path / "app", batch_size=None)).run
    whole = run_to_end(embed_dataset(dataset, model, "layer3.1.add", out=tmp_path / "whole", batch_size=8)).run
    for name in ("features", "channel_max", "channel_argmax"):
        np.testing.assert_array_equal(np.asarray(getattr(app, name)), np.asarray(getattr(whole, name)))


def test_cancelling_in_lanes_keeps_the_finished_rows_and_resumes(photo_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_THREADS", "2")
    model = load_model("resnet18", "random", image_size=64)
    dataset = open_dataset(photo_folder)
    work = embed_dataset(dataset, model, "layer3.1.add", out=tmp_path / "run", batch_size=4)
    for step in work:
        if step.done >= 2:
            work.close()
            break
    assert not _lane_threads()
    resumed = run_to_end(embed_dataset(dataset, model, "layer3.1.add", out=tmp_path / "run", batch_size=4))
    assert resumed.run.complete and 0 < resumed.computed < len(dataset)
    straight = run_to_end(embed_dataset(dataset, model, "layer3.1.add", out=tmp_path / "straight", batch_size=4)).run
    np.testing.assert_array_equal(np.asarray(resumed.run.features), np.asarray(straight.features))
