"""Issue 17: a run never removes or replaces a file it did not write (items 1 and 2)."""

import json
import shutil

import numpy as np
import pytest

from explorer.core.data.datasets import open_dataset
from explorer.core.engine.embedding import embed_dataset
from explorer.core.errors import RunFolderError
from explorer.core.model.zoo import load_model
from explorer.core.progress import run_to_end


def embed(folder, out, **kw):
    model = load_model("resnet18", "random", image_size=64)
    return run_to_end(embed_dataset(open_dataset(folder), model, "layer3.1.add", out=out, batch_size=4, **kw))


def snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_folder_that_is_not_a_run_is_never_touched_whatever_its_files_are_called(photo_folder, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    np.save(mine / "features.npy", np.arange(12.0).reshape(3, 4))  # a user's own arrays
    (mine / "manifest.json").write_text(json.dumps({"experiment": "thesis", "schema_version": 1}))
    (mine / "projection-pca.npy").write_bytes(b"my layout")
    (mine / "results.tmp").write_text("draft")
    (mine / "items.csv").write_text("id,name\n1,a\n")
    before = snapshot(mine)
    for overwrite in (False, True):
        with pytest.raises(RunFolderError, match="not a run folder.*nothing in it was changed"):
            embed(photo_folder, mine, overwrite=overwrite)
        assert snapshot(mine) == before


def test_overwrite_removes_only_what_the_old_run_wrote(photo_folder, tmp_path):
    out = tmp_path / "run"
    embed(photo_folder, out)
    (out / "notes.txt").write_text("my notes on this run")
    (out / "plot.png").write_bytes(b"png")
    model = load_model("alexnet", "random", image_size=64)
    with pytest.raises(RunFolderError, match="--overwrite"):
        run_to_end(embed_dataset(open_dataset(photo_folder), model, "features.3", out=out))
    run = run_to_end(embed_dataset(open_dataset(photo_folder), model, "features.3", out=out, overwrite=True)).run
    assert run.layer == "features.3" and run.complete
    assert (out / "notes.txt").read_text() == "my notes on this run" and (out / "plot.png").read_bytes() == b"png"


def test_a_user_folder_named_like_the_update_staging_survives_an_update(photo_folder, tmp_path):
    root = tmp_path / "photos"
    shutil.copytree(photo_folder, root)
    out = tmp_path / "run"
    embed(root, out)
    beside = tmp_path / "run.updating"  # the first release staged updates here, and removed it
    beside.mkdir()
    (beside / "precious.txt").write_text("keep me")
    shutil.copy(sorted(root.rglob("*.png"))[0], root / "things" / "added.png")  # the folder changed
    second = embed(root, out)
    assert second.computed == 1 and len(second.run) == 9
    assert (beside / "precious.txt").read_text() == "keep me"
    assert not [p for p in out.iterdir() if p.name.startswith(".updating")]


def test_leftovers_of_a_killed_run_are_cleaned_and_nothing_else(photo_folder, tmp_path):
    out = tmp_path / "run"
    embed(photo_folder, out)
    (out / ".updating-0123abcd").mkdir()  # a killed update
    (out / ".updating-0123abcd" / "features.npy").write_bytes(b"half")
    (out / "items.csv.k2j3h4.tmp").write_text("half a csv")  # a killed atomic write
    (out / "my.tmp").write_text("the user's")
    again = embed(photo_folder, out)
    assert again.reused
    assert not (out / ".updating-0123abcd").exists() and not (out / "items.csv.k2j3h4.tmp").exists()
    assert (out / "my.tmp").read_text() == "the user's"


def test_clearing_the_cache_keeps_a_run_that_is_being_written(crops_folder):
    """Issue 17 item 4: `cache --clear` during an embedding skips that run and says so."""
    from explorer.core.run.cache import clear_cache
    from explorer.core.run.store import load_run

    model = load_model("resnet18", "random", image_size=64)
    work = embed_dataset(open_dataset(crops_folder), model, "layer3.1.add", batch_size=4)
    steps = [next(work) for _ in range(6)]  # the run is open and half written
    assert steps[-1].done > 0
    removed, _, skipped = clear_cache()
    assert removed == 0 and len(skipped) == 1
    result = run_to_end(work)
    assert result.run.path == skipped[0] and load_run(skipped[0]).complete
    removed, _, skipped = clear_cache()  # no longer in use
    assert removed == 1 and not skipped and not result.run.path.exists()


def test_two_embeds_into_one_folder_take_turns(crops_folder, tmp_path):
    """Issue 17 item 16: the second waits for the first, neither crashes, the run is exact."""
    import os
    import subprocess
    import sys

    from explorer.core.run.store import load_run

    def cli(out):
        return subprocess.Popen([sys.executable, "-m", "explorer", "embed", str(crops_folder), "--out", str(out),
                                 "--model", "resnet18", "--weights", "random", "--batch-size", "4",
                                 "--image-size", "64", "--layer", "layer3.1.add"],
                                env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    out = tmp_path / "run"
    first, second = cli(out), cli(out)
    results = [p.communicate(timeout=300) + (p.returncode,) for p in (first, second)]
    assert [r[2] for r in results] == [0, 0], [r[1][-800:] for r in results]
    outs = " ".join(r[0] for r in results)
    assert "120 images in" in outs and "already complete, reused" in outs  # one computed, one waited and reused
    straight = tmp_path / "straight"
    assert cli(straight).wait(timeout=300) == 0
    np.testing.assert_array_equal(np.asarray(load_run(out).features), np.asarray(load_run(straight).features))


def test_non_finite_outputs_are_failed_rows_not_numbers(photo_folder, tmp_path):
    """Issue 17 item 7: weights with NaN never make a run of NaN features that looks fine."""
    import torch

    from explorer.core.errors import ExplorerError

    model = load_model("resnet18", "random", image_size=64)
    with torch.no_grad():
        model.module.conv1.weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(ExplorerError, match="NaN or infinite for all 8 images.*weights"):
        run_to_end(embed_dataset(open_dataset(photo_folder), model, "layer3.1.add", out=tmp_path / "run"))
    from explorer.core.run.store import load_run

    run = load_run(tmp_path / "run")
    assert run.counts()["failed"] == 8 and run.status(0)[0] == "not-finite"


def test_activations_beyond_float16_are_kept_in_float32(photo_folder, tmp_path):
    """Issue 17 item 7: values past 65504 are stored exactly (the array widens), not clipped."""
    import torch

    from explorer.core.run.store import load_run

    model = load_model("resnet18", "random", image_size=64)
    with torch.no_grad():
        model.module.conv1.weight.mul_(1e5)  # huge activations from the first layer on
    dataset = open_dataset(photo_folder)
    run = run_to_end(embed_dataset(dataset, model, "conv1", out=tmp_path / "run", batch_size=3)).run
    run = load_run(run.path)
    assert run.features.dtype == np.float32 and run.channel_max.dtype == np.float32
    assert run.channel_argmax.dtype == np.int32
    from torchvision.models.feature_extraction import create_feature_extractor

    ref = create_feature_extractor(model.module.eval(), return_nodes=["conv1"])
    pre = model.preprocess
    x = torch.stack([pre(dataset.load(i, draft_size=pre.resize)[0]) for i in range(len(dataset))])
    with torch.no_grad():
        want = ref(x)["conv1"].flatten(2).amax(2).numpy()
    assert np.abs(want).max() > 65504  # float16 would have clipped these
    np.testing.assert_allclose(np.asarray(run.channel_max), want, rtol=1e-3)
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert {e["file"]: e["dtype"] for e in manifest["arrays"]}["features.npy"] == "float32"
    assert run_to_end(embed_dataset(dataset, model, "conv1", out=tmp_path / "run")).reused  # still resumable


def test_a_full_disk_is_a_message_naming_the_folder_and_the_space(photo_folder, tmp_path, monkeypatch):
    """Issue 17 item 13: space is checked and reserved before the memory maps are written."""
    import errno
    import os
    import shutil as sh

    from explorer.core.run import files

    real = sh.disk_usage
    monkeypatch.setattr(files.shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    with pytest.raises(RunFolderError, match=r"Not enough space in .*run: the run needs [\d.,]+ MB and 0.0 MB"):
        embed(photo_folder, tmp_path / "run")
    monkeypatch.setattr(files.shutil, "disk_usage", real)

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(RunFolderError, match=r"Not enough space in .*run2 for features\.npy"):
        embed(photo_folder, tmp_path / "run2")
    monkeypatch.undo()
    assert embed(photo_folder, tmp_path / "run2").run.complete  # the next try, with space, just works


@pytest.mark.parametrize("edit", ["sorted items.csv", "shuffled paths", "changed features"])
def test_an_edited_run_is_detected_reported_and_rebuilt(photo_folder, tmp_path, edit, capsys):
    """Issue 17 item 6: editing a finished run is never served as if it were fine."""
    import csv
    import io

    from explorer.cli.main import main
    from explorer.core.run.store import load_run

    out = tmp_path / "run"
    first = embed(photo_folder, out)
    reference = np.asarray(first.run.features).copy()
    paths = [r.path for r in first.run.rows]
    del first
    if edit == "changed features":
        features = np.load(out / "features.npy", mmap_mode="r+")
        features[2, 5] += 1
        features.flush()
        del features
        target = "features.npy"
    else:
        rows = list(csv.reader(io.StringIO((out / "items.csv").read_text())))
        header, body = rows[0], rows[1:]
        if edit == "sorted items.csv":
            body.sort(key=lambda r: r[1], reverse=True)  # a spreadsheet sort, index column kept
        else:
            names = [r[1] for r in body]
            for r, name in zip(body, names[1:] + names[:1]):
                r[1] = name
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerows([header] + body)
        (out / "items.csv").write_text(buf.getvalue())
        target = "items.csv"
    with pytest.raises(RunFolderError, match=f"{target} changed after the run was written.*explorer embed"):
        load_run(out)
    capsys.readouterr()
    assert main(["neighbours", str(out), "0"]) == 2
    assert f"{target} changed" in capsys.readouterr().err
    again = embed(photo_folder, out)
    assert again.computed == 8 and target in again.note
    np.testing.assert_array_equal(np.asarray(again.run.features), reference)
    assert [r.path for r in again.run.rows] == paths


@pytest.mark.parametrize("where", ["out", "cache"])
def test_a_file_replaced_in_place_with_its_time_put_back_is_recomputed(photo_folder, tmp_path, where):
    """Issue 17 item 5: same size, same mtime, other content: the status-change time gives it away."""
    import os

    from explorer.cli.main import main
    from explorer.core.run.store import load_run

    root = tmp_path / "photos"
    shutil.copytree(photo_folder, root)
    out = tmp_path / "run" if where == "out" else None
    first = embed(root, out)
    victim = sorted(root.rglob("*.png"))[0]
    st = victim.stat()
    other = sorted(root.rglob("*.png"))[1].read_bytes()
    data = victim.read_bytes()
    victim.write_bytes((other + data)[:len(data)] if len(other) < len(data) else other[:len(data)])
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))  # size and mtime as they were
    assert victim.stat().st_size == st.st_size and victim.stat().st_mtime_ns == st.st_mtime_ns
    index = next(r.index for r in first.run.rows if (root / r.path) == victim)
    old_row = np.asarray(first.run.features[index]).copy()
    del first
    second = embed(root, out)
    assert second.computed == 1 and "1 file changed since embedded" in second.note
    assert victim.relative_to(root).as_posix() in second.note
    assert second.run.complete
    if where == "cache":  # the app's and CLI's fast path must not serve the old row either
        args = ["embed", str(root), "--model", "resnet18", "--weights", "random", "--image-size", "64",
                "--layer", "layer3.1.add", "--batch-size", "4"]
        assert main(args) == 0
    run = load_run(second.run.path)
    status = run.status(index)[0]
    assert status != "ok" or not np.array_equal(np.asarray(run.features[index]), old_row)


def test_the_cached_fast_path_does_not_serve_a_file_replaced_in_place(photo_folder, tmp_path, capsys):
    import os

    from explorer.cli.main import main

    root = tmp_path / "photos"
    shutil.copytree(photo_folder, root)
    args = ["embed", str(root), "--model", "resnet18", "--weights", "random", "--image-size", "64",
            "--layer", "layer3.1.add", "--batch-size", "4"]
    assert main(args) == 0
    assert main(args) == 0 and "already complete, reused" in capsys.readouterr().out  # the fast path works
    victim = sorted(root.rglob("*.png"))[0]
    st = victim.stat()
    victim.write_bytes(victim.read_bytes())  # rewritten (same bytes are enough: nothing proves otherwise)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "1 images in" in out and "reused" not in out


def test_verify_finds_a_file_replaced_with_even_its_times_put_back(photo_folder, tmp_path, capsys, monkeypatch):
    """Issue 17 item 5: --verify compares content digests kept in the run, whatever the metadata says."""
    import hashlib
    import os

    from explorer.cli.main import main
    from explorer.core.run.store import load_run

    root = tmp_path / "photos"
    shutil.copytree(photo_folder, root)
    out = tmp_path / "run"
    args = ["embed", str(root), "--out", str(out), "--model", "resnet18", "--weights", "random", "--image-size", "64",
            "--layer", "layer3.1.add"]
    assert main(args) == 0
    run = load_run(out)
    for r in run.rows:  # the digests are the files' own (independent BLAKE2b)
        want = hashlib.blake2b((root / r.path).read_bytes(), digest_size=16).digest()
        assert bytes(np.asarray(run.content[r.index])) == want
    victim = root / run.rows[3].path
    del run
    data = bytearray(victim.read_bytes())
    data[-20] ^= 0xFF  # one byte of the image changed; size the same
    st = victim.stat()
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    # a file system that keeps no status-change time: only the content can tell
    from explorer.core.run import store

    monkeypatch.setattr(store.Run, "changed_rows", lambda self, signatures: np.zeros(0, np.int64))
    capsys.readouterr()
    assert main(args) == 0 and "already complete, reused" in capsys.readouterr().out  # nothing tells without it
    assert main(args + ["--verify"]) == 0
    out_text, err = capsys.readouterr()
    assert "1 changed or unknown since embedded, recomputed" in err and "1 images in" in out_text
    run = load_run(out)
    assert bytes(np.asarray(run.content[3])) == hashlib.blake2b(bytes(data), digest_size=16).digest()
    assert main(args + ["--verify"]) == 0
    assert "0 changed or unknown" in capsys.readouterr().err
