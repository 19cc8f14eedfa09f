"""Embedding: features equal an independent torchvision computation; resume; reuse."""

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision.models.feature_extraction import create_feature_extractor

from explorer.core.data.datasets import open_dataset
from explorer.core.engine.embedding import embed_dataset, run_key
from explorer.core.errors import RunFolderError
from explorer.core.model.zoo import load_model
from explorer.core.progress import run_to_end
from explorer.core.run.store import load_run


def reference(name, layer, folder):
    """Features the textbook way: torchvision's model and create_feature_extractor on the same
    preprocessed images (the preprocessing itself is checked against torchvision's presets, to
    one grey level, in test_preprocess.py)."""
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None).eval()
    loaded = load_model(name, "random")
    model.load_state_dict(loaded.module.state_dict())
    transform = loaded.preprocess
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    x = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])
    with torch.no_grad():
        out = create_feature_extractor(model, {layer: "out"})(x)["out"].double()
    flat = out.flatten(2)
    return flat.mean(2).numpy(), flat.max(2).values.numpy(), flat.argmax(2).numpy()


@pytest.mark.parametrize("name,layer", [("alexnet", "features.10"), ("resnet18", "layer3.1.add"),
                                        ("resnet18", "layer4.1.relu_1")])
def test_features_match_torchvision_feature_extractor(name, layer, photo_folder, tmp_path):
    dataset = open_dataset(photo_folder)
    model = load_model(name, "random")
    result = run_to_end(embed_dataset(dataset, model, layer, out=tmp_path / "run", batch_size=3))
    run = result.run
    assert run.complete and result.computed == len(dataset) == 8
    feats, cmax, carg = reference(name, layer, photo_folder)
    scale = np.abs(feats).max()
    np.testing.assert_allclose(np.asarray(run.features, np.float64), feats, rtol=1e-3, atol=1e-3 * scale)
    np.testing.assert_allclose(np.asarray(run.channel_max, np.float64), cmax, rtol=1e-3,
                               atol=1e-3 * np.abs(cmax).max())
    # argmax may differ only where two units tie within float16 precision
    assert (np.asarray(run.channel_argmax) == carg).mean() > 0.97


def test_resume_computes_only_missing_rows_and_matches_uninterrupted(photo_folder, tmp_path):
    dataset = open_dataset(photo_folder)
    model = load_model("resnet18", "random", image_size=96)
    work = embed_dataset(dataset, model, "layer2.1.add", out=tmp_path / "stopped", batch_size=2)
    done = 0
    for step in work:
        done = step.done
        if done >= 4:
            work.close()  # the user pressed Cancel after two batches
            break
    partial = load_run(tmp_path / "stopped")
    assert partial.counts() == {"items": 8, "embedded": 4, "failed": 0, "pending": 4}
    assert not partial.complete

    resumed = run_to_end(embed_dataset(dataset, model, "layer2.1.add", out=tmp_path / "stopped", batch_size=2))
    assert resumed.computed == 4 and not resumed.reused and resumed.run.complete
    straight = run_to_end(embed_dataset(dataset, model, "layer2.1.add", out=tmp_path / "straight", batch_size=8))
    np.testing.assert_array_equal(np.asarray(resumed.run.features), np.asarray(straight.run.features))
    np.testing.assert_array_equal(np.asarray(resumed.run.channel_argmax), np.asarray(straight.run.channel_argmax))

    again = run_to_end(embed_dataset(dataset, model, "layer2.1.add", out=tmp_path / "stopped", batch_size=2))
    assert again.reused and again.computed == 0


def test_default_output_is_the_cache_and_is_reused(photo_folder):
    dataset = open_dataset(photo_folder)
    model = load_model("alexnet", "random", image_size=96)
    first = run_to_end(embed_dataset(dataset, model))
    assert first.run.manifest["layer"] == "avgpool" and first.computed == 8
    second = run_to_end(embed_dataset(dataset, model))
    assert second.reused and second.run.path == first.run.path
    other_layer = run_to_end(embed_dataset(dataset, model, "features.5"))
    assert other_layer.run.path != first.run.path and other_layer.computed == 8


def test_cache_key_covers_everything_that_changes_the_numbers(photo_folder, tmp_path):
    import shutil

    dataset = open_dataset(photo_folder)
    model = load_model("alexnet", "random")
    key = run_key(dataset, model, "features.5")
    assert key != run_key(dataset, model, "features.3")
    assert key != run_key(dataset, load_model("alexnet", "random", image_size=160), "features.5")
    copy = tmp_path / "copy"
    shutil.copytree(photo_folder, copy)
    moved = open_dataset(copy)
    k1 = run_key(moved, model, "features.5")
    (copy / "things" / "extra.png").write_bytes(next((photo_folder / "things").glob("*.png")).read_bytes())
    assert run_key(open_dataset(copy), model, "features.5") != k1


def test_bad_files_become_rows_and_the_run_goes_on(photo_folder, tmp_path):
    import shutil

    root = tmp_path / "mixed"
    shutil.copytree(photo_folder, root)
    jpg = next((root / "things").glob("*.jpg"))
    (root / "things" / "truncated.jpg").write_bytes(jpg.read_bytes()[:2000])
    (root / "things" / "empty.png").write_bytes(b"")
    (root / "things" / "text.png").write_text("not an image")
    dataset = open_dataset(root)
    run = run_to_end(embed_dataset(dataset, load_model("resnet18", "random", image_size=64),
                                   out=tmp_path / "run")).run
    assert run.complete
    status = {r.path.split("/")[-1]: run.status(r.index) for r in run.rows}
    assert status["truncated.jpg"][0] == "truncated"
    assert status["empty.png"][0] == "empty"
    assert status["text.png"][0] == "unreadable"
    assert "text.png" in status["text.png"][1]
    assert run.counts()["embedded"] == 8 and run.counts()["failed"] == 3
    csv_text = (run.path / "items.csv").read_text()
    assert "truncated.jpg,things,truncated," in csv_text
    assert not np.any(np.asarray(run.features)[~run.done_mask])  # failed rows hold no numbers


def test_out_folder_holding_another_run_is_not_overwritten_silently(photo_folder, tmp_path):
    dataset = open_dataset(photo_folder)
    model = load_model("alexnet", "random", image_size=96)
    run_to_end(embed_dataset(dataset, model, "features.5", out=tmp_path / "run"))
    with pytest.raises(RunFolderError, match="--overwrite"):
        run_to_end(embed_dataset(dataset, model, "features.3", out=tmp_path / "run"))
    replaced = run_to_end(embed_dataset(dataset, model, "features.3", out=tmp_path / "run", overwrite=True))
    assert replaced.run.manifest["layer"] == "features.3"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(RunFolderError, match="not a run folder"):
        run_to_end(embed_dataset(dataset, model, out=tmp_path / "mine"))
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_manifest_records_what_produced_the_numbers(photo_folder, tmp_path):
    dataset = open_dataset(photo_folder)
    run = run_to_end(embed_dataset(dataset, load_model("resnet18", "random", image_size=64),
                                   "layer1.0.add", out=tmp_path / "run")).run
    m = load_run(tmp_path / "run").manifest
    assert m["model"] == "resnet18" and m["weights"] == "random:0" and m["layer"] == "layer1.0.add"
    assert m["layer_shape"] == [64, 16, 16] and m["input_size"] == 64
    assert m["preprocess"]["crop"] == 64 and m["complete"] and m["counts"]["embedded"] == 8
    assert {"torch", "torchvision", "numpy"} <= set(m["versions"])
    assert run.features.dtype == np.float16 and run.features.shape == (8, 64)


def test_bundled_model_recognises_real_photos():
    """The default model is ImageNet-trained: a cat is a cat, coffee is espresso."""
    from tests.conftest import photo

    model = load_model("efficientnet_lite0")
    cats = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
    with torch.no_grad():
        x = torch.stack([model.preprocess(photo("chelsea")), model.preprocess(photo("coffee"))])
        top5 = model.module(x).topk(5).indices
    names = [[model.categories[i] for i in row] for row in top5.tolist()]
    assert cats & set(names[0]), names[0]
    assert "espresso" in names[1], names[1]
