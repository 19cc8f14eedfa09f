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
