"""A changed folder re-embeds only what changed: finished rows of the older cached run are taken over,
failed ones are tried again (a failure can come from outside the file)."""

import numpy as np
from PIL import Image

from explorer.core.data.datasets import open_dataset
from explorer.core.engine.embedding import embed_dataset
from explorer.core.errors import DecodeError
from explorer.core.model.zoo import load_model
from explorer.core.progress import run_to_end


def test_changed_folder_takes_over_finished_rows_and_retries_failed_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "images"
    (root / "a").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(root / "a" / f"{i}.png")
    model = load_model("resnet18", "random", image_size=32)
    import explorer.core.data.datasets as datasets

    real_load = datasets.Dataset.load

    def flaky(self, i, **kw):  # a decoder missing on the first run, for one file
        if self.items[i].path.endswith("2.png"):
            raise DecodeError("unreadable", "no decoder for this file yet")
        return real_load(self, i, **kw)

    monkeypatch.setattr(datasets.Dataset, "load", flaky)
    first = run_to_end(embed_dataset(open_dataset(root), model, "layer1", batch_size=2, workers=0)).run
    assert first.counts()["failed"] == 1
    monkeypatch.setattr(datasets.Dataset, "load", real_load)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(root / "a" / "9.png")  # the folder changed
    work = embed_dataset(open_dataset(root), model, "layer1", batch_size=1, workers=0)
    second = run_to_end(work).run
    assert second.path != first.path and second.counts()["failed"] == 0
    assert second.counts()["embedded"] == 5
    by_path = {r.path: r.index for r in second.rows}
    for r in first.rows:
        if first.status(r.index)[0] == "ok":  # taken over unchanged
            np.testing.assert_array_equal(np.asarray(second.features[by_path[r.path]]),
                                          np.asarray(first.features[r.index]))
