"""The open run format: first-release runs still open, typed accessors, kept projections, Pillow's limits."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explorer.core.analysis.kept_projections import list_projections, load_projection, load_projector, project_run
from explorer.core.analysis.projection import PCAProjection
from explorer.core.errors import RunFolderError
from explorer.core.progress import run_to_end
from explorer.core.run.arrays import plan
from explorer.core.run.folder import create_run
from explorer.core.run.store import Row, load_run

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def v1_run(tmp_path) -> Path:
    """A copy of the run folder written by the first release (schema 1)."""
    shutil.copytree(FIXTURES / "run_v1", tmp_path / "run_v1")
    return tmp_path / "run_v1"


def test_first_release_run_opens_with_typed_accessors(v1_run):
    raw = json.loads((v1_run / "manifest.json").read_text())
    assert raw["schema_version"] == 1 and "layers" not in raw
    run = load_run(v1_run)
    assert run.layer == "layer2.1.relu_1" and run.layers == ["layer2.1.relu_1"]
    assert run.layer_shape() == (128, 4, 4) and run.input_size == 32 and run.model == "resnet18"
    assert run.receptive_field() == 99 and run.field().jump == 8
    assert run.preprocess.crop == 32 and run.preprocess.resize == 37
    assert run.source.kind == "folder" and run.dataset_root == "/tmp/fx/photos"
    assert run.counts() == {"items": 5, "embedded": 4, "failed": 1, "pending": 0}
    # the numbers are the files' numbers, read through the registry
    np.testing.assert_array_equal(run.features, np.load(v1_run / "features.npy"))
    np.testing.assert_array_equal(run.array("channel_argmax", "layer2.1.relu_1"), np.load(v1_run / "channel_argmax.npy"))
    # its PCA map is still there
    layout = load_projection(run, "pca")
    np.testing.assert_array_equal(layout, np.load(v1_run / "projection-pca.npy"))


def test_first_release_run_is_taken_over_without_embedding_again(v1_run, tmp_path):
    """Embedding the same files with the same settings into the old folder computes nothing."""
    from explorer.core.data.datasets import open_dataset
    from explorer.core.engine.embedding import embed_dataset, family_key
    from explorer.core.model.zoo import load_model

    photos = tmp_path / "photos"
    shutil.copytree(FIXTURES / "run_v1_photos", photos)
    old = load_run(v1_run)
    for row in old.rows:  # the files as they were: same sizes, same modification times
        size, mtime = old.signatures[row.index]
        assert (photos / row.path).stat().st_size == size
        os.utime(photos / row.path, ns=(int(mtime), int(mtime)))
    manifest = json.loads((v1_run / "manifest.json").read_text())
    manifest["dataset"]["root"] = str(photos.resolve())  # the folder moved with the fixture
    (v1_run / "manifest.json").write_text(json.dumps(manifest))
    expected = np.asarray(old.features).copy()
    del old
    model = load_model("resnet18", "random", image_size=32)
    assert family_key(model, "layer2.1.relu_1") == manifest["family"]  # the cache key did not change
    result = run_to_end(embed_dataset(open_dataset(photos), model, "layer2.1.relu_1", out=v1_run))
    assert result.computed == 0
    run = load_run(v1_run)
    assert json.loads((v1_run / "manifest.json").read_text())["schema_version"] == 2
    np.testing.assert_array_equal(run.features, expected)
    assert run.counts() == {"items": 5, "embedded": 4, "failed": 1, "pending": 0}


def test_a_newer_run_format_is_refused_with_a_clear_message(v1_run):
    manifest = json.loads((v1_run / "manifest.json").read_text())
    (v1_run / "manifest.json").write_text(json.dumps(dict(manifest, schema_version=7)))
    with pytest.raises(RunFolderError, match="format 7.*reads formats 1 to 2"):
        load_run(v1_run)
    (v1_run / "manifest.json").write_text("[]")
    with pytest.raises(RunFolderError, match="damaged"):
        load_run(v1_run)


def synthetic_run(path: Path, n: int = 240, d: int = 16, seed: int = 0):
    """A run of blobs with known features, made without a network."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    centres = rng.normal(0, 6, (4, d))
    feats = centres[labels] + rng.normal(0, 1, (n, d))
    layer = {"name": "blob", "shape": [d]}
    manifest = {"dataset": {"root": str(path / "none"), "classes": ["a", "b", "c", "d"]}, "model": "synthetic",
                "weights": "none", "layers": [layer], "arrays": plan([layer]), "input_size": 8,
                "preprocess": {"resize": 8, "crop": 8}, "key": "synthetic"}
    run = create_run(path, manifest, [Row(i, f"{'abcd'[labels[i]]}/{i}.png", "abcd"[labels[i]]) for i in range(n)])
    run.write_rows(np.arange(n), {"features": feats, "channel_max": feats, "channel_argmax": np.zeros((n, d), int)})
    run.save(complete=True)
    return run, feats.astype(np.float16).astype(np.float32), labels


def test_projections_are_kept_per_setting_and_know_their_rows(tmp_path):
    run, feats, labels = synthetic_run(tmp_path / "run")
    a = run_to_end(project_run(run, "tsne", perplexity=10, seed=1))
    b = run_to_end(project_run(run, "tsne", perplexity=20, seed=1))
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(load_projection(run, "tsne", perplexity=10, seed=1), a)
    np.testing.assert_array_equal(load_projection(run, "tsne", perplexity=20, seed=1), b)
    assert load_projection(run, "tsne", perplexity=30, seed=1) is None
    kept = {(p["method"], p.get("perplexity")) for p in list_projections(run)}
    assert kept == {("tsne", 10.0), ("tsne", 20.0)}
    # the people's copy holds the latest, with its settings
    assert json.loads((run.path / "projection-tsne.json").read_text())["perplexity"] == 20.0
    # a projection belongs to the rows it was computed from: one more failed row and it is stale
    run.mark_failed(3, "unreadable", "test")
    assert load_projection(run, "tsne", perplexity=10, seed=1) is None
    assert not any(p["current"] for p in list_projections(run))


def test_pca_projection_transform_matches_scikit_learn(tmp_path):
    from sklearn.decomposition import PCA

    run, feats, _ = synthetic_run(tmp_path / "run")
    run_to_end(project_run(run, "pca", seed=0))
    fitted = load_projector(run, "pca", seed=0)
    assert isinstance(fitted, PCAProjection)
    new = np.random.default_rng(5).normal(0, 6, (7, feats.shape[1])).astype(np.float32)
    ref = PCA(n_components=2).fit(feats).transform(new)
    ours = fitted.transform(new)
    for c in range(2):  # components are defined up to sign
        sign = np.sign(np.dot(ours[:, c], ref[:, c]))
        np.testing.assert_allclose(ours[:, c] * sign, ref[:, c], rtol=1e-3, atol=1e-3)


def test_tsne_projection_places_new_points_next_to_their_cluster(tmp_path):
    run, feats, labels = synthetic_run(tmp_path / "run", n=300)
    layout = run_to_end(project_run(run, "tsne", perplexity=15, seed=0))
    fitted = load_projector(run, "tsne", perplexity=15, seed=0)
    rng = np.random.default_rng(9)
    picks = rng.choice(len(feats), 12, replace=False)
    new = feats[picks] + rng.normal(0, 0.3, (12, feats.shape[1])).astype(np.float32)  # near, not equal
    placed = fitted.transform(new)
    # each new point's nearest neighbour in the map has the cluster of the point it was made from
    d = ((placed[:, None, :] - layout[None, :, :]) ** 2).sum(-1)
    assert (labels[d.argmin(1)] == labels[picks]).mean() >= 11 / 12


def test_importing_the_core_leaves_pillow_limits_alone(tmp_path):
    """A notebook keeps Pillow's decompression-bomb guard; our decoder still reports bombs itself."""
    from tests.core.test_bad_files import png_with_fake_size

    png_with_fake_size(tmp_path / "bomb.png", 40000, 40000)
    code = ("import pkgutil, importlib, explorer.core as core\n"
            "from PIL import Image\n"
            "before = Image.MAX_IMAGE_PIXELS\n"
            "for m in pkgutil.walk_packages(core.__path__, 'explorer.core.'): importlib.import_module(m.name)\n"
            "assert Image.MAX_IMAGE_PIXELS == before, Image.MAX_IMAGE_PIXELS\n"
            "from explorer.core.data.decode import load_rgb\n"
            "from explorer.core.errors import DecodeError\n"
            f"try:\n    load_rgb({str(tmp_path / 'bomb.png')!r})\n"
            "except DecodeError as e:\n    print(e.kind, e.reason)\n"
            "assert Image.MAX_IMAGE_PIXELS == before\n"
            "print('limit', Image.MAX_IMAGE_PIXELS)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=FIXTURES.parent.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "too-large" in out.stdout and "40000x40000" in out.stdout
    assert "limit 89478485" in out.stdout  # Pillow's own default, untouched


def test_items_csv_round_trips_every_control_character(tmp_path):
    """A file name with \\r (or any control character) must not split items.csv."""
    names = [f"cls/a{chr(c)}b.png" for c in range(1, 32)] + ["cls/a\x7fb.png", 'cls/"quoted", name.png',
                                                              "cls/=SUM(A1).png", "cls/\r\n.png",
                                                              "cls/bad" + b"\xff".decode("utf-8", "surrogateescape")
                                                              + ".png"]  # a name that is not UTF-8
    layer = {"name": "x", "shape": [2]}
    manifest = {"dataset": {"root": str(tmp_path / "none"), "classes": ["c\rd"]}, "model": "m", "weights": "w",
                "layers": [layer], "arrays": plan([layer]), "input_size": 8, "key": "k"}
    rows = [Row(i, name, "c\rd" if i % 2 else None) for i, name in enumerate(names)]
    run = create_run(tmp_path / "run", manifest, rows)
    run.mark_failed(4, "unreadable", "reason with\rcarriage return\nand newline")
    run.save()
    again = load_run(tmp_path / "run")
    assert [(r.index, r.path, r.label) for r in again.rows] == [(r.index, r.path, r.label) for r in rows]
    assert again.status(4) == ("unreadable", "reason with\rcarriage return\nand newline")


def test_run_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run, _, _ = synthetic_run(tmp_path / "run", n=8)
        run_to_end(project_run(run, "pca"))
    finally:
        os.umask(old)
    for name in ("manifest.json", "items.csv", "features.npy", "projection-pca.csv", "projection-pca.json"):
        assert (run.path / name).stat().st_mode & 0o777 == 0o644, name
    kept = next((run.path / "projections").iterdir())
    assert kept.stat().st_mode & 0o777 == 0o755
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in kept.iterdir())


def _reference_outputs(dataset, model, nodes):
    """Layer outputs and logits straight from torchvision's extractor on the model itself."""
    import torch
    from torchvision.models.feature_extraction import create_feature_extractor

    ref = create_feature_extractor(model.module.eval(), return_nodes=list(nodes) + ["fc"])
    pre = model.preprocess  # decoded as the engine decodes (JPEG draft scaling), so inputs are equal
    x = torch.stack([pre(dataset.load(i, draft_size=pre.resize)[0]) for i in range(len(dataset))])
    with torch.no_grad():
        return {k: v.float() for k, v in ref(x).items()}


def test_one_pass_fills_several_layers(photo_folder, tmp_path):
    from explorer.core.data.datasets import open_dataset
    from explorer.core.engine.embedding import embed_dataset
    from explorer.core.model.zoo import load_model

    dataset = open_dataset(photo_folder)
    model = load_model("resnet18", "random", image_size=64)
    layers = ["layer2.1.relu_1", "layer4.1.relu_1", "avgpool"]
    result = run_to_end(embed_dataset(dataset, model, layers, out=tmp_path / "run"))
    run = load_run(result.run.path)
    assert run.layers == layers and run.layer == layers[0] and result.computed == len(dataset)
    assert run.layer_shape("layer4.1.relu_1") == (512, 2, 2) and run.field("avgpool") is None
    ref = _reference_outputs(dataset, model, layers)
    for layer in layers:
        want = ref[layer].flatten(2).mean(2) if ref[layer].dim() == 4 else ref[layer].flatten(1)
        got = np.asarray(run.array("features", layer), np.float32)
        np.testing.assert_allclose(got, want.numpy(), rtol=2e-2, atol=2e-3 * float(want.abs().max()))
    np.testing.assert_array_equal(run.features, run.array("features", layers[0]))
    # the files on disk say what they are
    files = {(e["name"], e["layer"]): e["file"] for e in json.loads((run.path / "manifest.json").read_text())["arrays"]}
    assert files[("features", "layer2.1.relu_1")] == "features.npy"
    assert files[("channel_max", "avgpool")] == "channel_max.L2.npy"
    # the same request again reuses the run
    again = run_to_end(embed_dataset(dataset, model, layers, out=tmp_path / "run"))
    assert again.reused and again.computed == 0


def test_adding_an_array_is_one_declaration(photo_folder, tmp_path, monkeypatch):
    """Two arrays declared here, nowhere else: a per-layer channel minimum and the run's top-5 classes."""
    from explorer.core.data.datasets import open_dataset
    from explorer.core.engine.embedding import embed_dataset
    from explorer.core.model.zoo import load_model
    from explorer.core.run.arrays import REGISTRY, ArraySpec, channels, default_arrays

    monkeypatch.setitem(REGISTRY, "channel_min", ArraySpec(
        "channel_min", "float16", True, channels, lambda out: out.flatten(2).min(dim=2).values, default=False))
    monkeypatch.setitem(REGISTRY, "top5", ArraySpec(
        "top5", "int32", False, lambda shape: (5,), lambda logits: logits.topk(5, dim=1).indices,
        source="logits", default=False))

    dataset = open_dataset(photo_folder)
    model = load_model("resnet18", "random", image_size=64)
    arrays = default_arrays() + ["channel_min", "top5"]
    first = run_to_end(embed_dataset(dataset, model, "layer3.1.relu_1", out=tmp_path / "run", batch_size=3,
                                     arrays=arrays))
    run = load_run(first.run.path)
    ref = _reference_outputs(dataset, model, ["layer3.1.relu_1"])
    want_min = ref["layer3.1.relu_1"].flatten(2).min(2).values.numpy()
    np.testing.assert_allclose(np.asarray(run.array("channel_min"), np.float32), want_min, rtol=1e-2, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(run.array("top5")), ref["fc"].topk(5, dim=1).indices.numpy())
    assert (run.path / "channel_min.npy").exists() and (run.path / "top5.npy").exists()
    # it resumes, and is found again, like every other array
    assert run_to_end(embed_dataset(dataset, model, "layer3.1.relu_1", out=tmp_path / "run",
                                    arrays=arrays)).reused
    # a run without the new arrays is another run: asking for them never reuses it silently
    plain = run_to_end(embed_dataset(dataset, model, "layer3.1.relu_1", out=tmp_path / "plain"))
    assert not load_run(plain.run.path).has_array("top5")


def test_the_peoples_copies_of_a_projection_name_their_layout(tmp_path):
    """Issue 17 item 9: projection-<method>.json says which layout and rows it goes with."""
    import hashlib

    run, _, _ = synthetic_run(tmp_path / "run", n=40)
    run_to_end(project_run(run, "pca", seed=3))
    record = json.loads((run.path / "projection-pca.json").read_text())
    assert record["seed"] == 3 and record["layout_sha256"] == hashlib.sha256(
        (run.path / "projection-pca.npy").read_bytes()).hexdigest()
    run_to_end(project_run(run, "pca", seed=4))
    record = json.loads((run.path / "projection-pca.json").read_text())
    assert record["seed"] == 4  # (PCA does not depend on the seed: the layout may be the same)
    assert record["layout_sha256"] == hashlib.sha256((run.path / "projection-pca.npy").read_bytes()).hexdigest()
    rows = (run.path / "projection-pca.csv").read_text().splitlines()
    layout = np.load(run.path / "projection-pca.npy")
    assert rows[1].split(",")[1] == f"{layout[0, 0]:.6g}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fdatasync stands in for msync on Linux only")
def test_finished_rows_are_synced_file_by_file_without_holding_the_gil(tmp_path, monkeypatch):
    """Every array and the state are put on disk before a row counts as done, as msync did, but by
    fdatasync, which lets the CPU lanes run while the disk works."""
    run = synthetic_run(tmp_path / "run", n=20)[0]
    synced = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real(fd))
    monkeypatch.setattr(np.memmap, "flush", lambda self: pytest.fail("msync holds the GIL"))
    run.state[:5] = 0
    run.write_rows(np.arange(5), {"features": np.ones((5, 16)), "channel_max": np.ones((5, 16)),
                                  "channel_argmax": np.ones((5, 16), int)})
    names = sorted(os.path.basename(p) for p in synced)
    assert names == sorted([os.path.basename(e["file"]) for e in run.manifest["arrays"]] + ["state.npy"])
    assert synced[-1].endswith("state.npy")  # the rows' numbers first, then their state
    features = next(e["file"] for e in run.manifest["arrays"] if e["name"] == "features")
    assert (np.load(tmp_path / "run" / features)[:5] == 1).all()
    assert (np.load(tmp_path / "run" / "state.npy")[:5] == 1).all()
