"""The command line end to end: layers, embed, project, neighbours, on a real folder."""

import json
import subprocess
import sys

import numpy as np

from explorer.cli.main import main
from explorer.core.analysis.neighbours import NeighbourIndex
from explorer.core.run.store import load_run


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_layers_json_for_vgg16(capsys):
    code, out, _ = run_cli(capsys, "layers", "vgg16", "--weights", "random", "--json")
    assert code == 0
    layers = {l["name"]: l for l in json.loads(out)}
    assert layers["features.0"] == {"name": "features.0", "shape": [64, 224, 224], "receptive_field": 3,
                                    "stride": 1}
    assert layers["features.2"]["receptive_field"] == 5
    assert layers["features.30"]["receptive_field"] == 212 and layers["features.30"]["shape"] == [512, 7, 7]
    assert layers["classifier.6"]["receptive_field"] is None and layers["classifier.6"]["shape"] == [1000]


def test_embed_project_neighbours(capsys, photo_folder, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, "embed", str(photo_folder), "--out", str(run_dir), "--model", "resnet18",
                             "--weights", "random", "--image-size", "64", "--batch-size", "3")
    assert code == 0, err
    assert "8 embedded" in out and "8 images in" in out
    code, out, _ = run_cli(capsys, "embed", str(photo_folder), "--out", str(run_dir), "--model", "resnet18",
                           "--weights", "random", "--image-size", "64")
    assert code == 0 and "already complete, reused" in out

    for method in ("pca", "tsne"):
        code, out, _ = run_cli(capsys, "project", str(run_dir), "--method", method, "--seed", "1")
        assert code == 0
        layout = np.load(run_dir / f"projection-{method}.npy")
        assert layout.shape == (8, 2) and np.isfinite(layout).all()
        lines = (run_dir / f"projection-{method}.csv").read_text().splitlines()
        assert lines[0] == "index,x,y,label" and len(lines) == 9

    code, out, _ = run_cli(capsys, "neighbours", str(run_dir), "2", "-k", "3", "--json")
    assert code == 0
    found = json.loads(out)
    run = load_run(run_dir)
    expected = NeighbourIndex(run.features, metric="cosine").query(2, 3)
    assert [f["index"] for f in found] == [n.index for n in expected]
    assert set(found[0]) == {"index", "distance", "path", "label"}
    assert found[0]["path"] == run.rows[found[0]["index"]].path


def test_errors_are_messages_not_tracebacks(capsys, tmp_path):
    code, _, err = run_cli(capsys, "embed", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"))
    assert code == 2 and "Dataset folder not found" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "layers", "resnet18", "--weights", str(tmp_path / "missing.pth"))
    assert code == 2 and "Weights file not found" in err
    code, _, err = run_cli(capsys, "neighbours", str(tmp_path), "0")
    assert code == 2 and "not a run folder" in err


def test_models_lists_the_zoo(capsys):
    code, out, _ = run_cli(capsys, "models", "--json")
    names = {m["name"]: m["weights"] for m in json.loads(out)}
    assert code == 0 and names["efficientnet_lite0"] == "bundled" and "googlenet" in names


def test_help_is_instant_and_imports_no_heavy_library():
    code = ("import sys, explorer.cli as c; c.build_parser().format_help(); "
            "print(sorted(m for m in ('torch', 'numpy', 'PySide6') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_export_projector_and_csv(capsys, photo_folder, tmp_path):
    run_dir = tmp_path / "run"
    assert main(["embed", str(photo_folder), "--out", str(run_dir), "--model", "alexnet", "--weights", "random",
                 "--image-size", "96"]) == 0
    assert main(["project", str(run_dir), "--method", "pca"]) == 0
    capsys.readouterr()
    assert main(["export", str(run_dir), "--projector", str(tmp_path / "tb"), "--csv", str(tmp_path / "s.csv")]) == 0
    run = load_run(run_dir)
    tensors = np.loadtxt(tmp_path / "tb" / "tensors.tsv", delimiter="\t")
    np.testing.assert_allclose(tensors, np.asarray(run.features, np.float64), rtol=1e-5)
    meta = (tmp_path / "tb" / "metadata.tsv").read_text().splitlines()
    assert meta[0] == "index\tlabel\tpath" and len(meta) == 9 and meta[1].split("\t")[2] == run.rows[0].path
    rows = (tmp_path / "s.csv").read_text().splitlines()
    layout = np.load(run_dir / "projection-pca.npy")
    assert rows[0] == "index,path,label,x,y,map,run" and len(rows) == 9 and ",PCA (seed 0)," in rows[1]
    x = float(rows[3].split(",")[3])
    assert abs(x - layout[2, 0]) < 1e-4 * max(1.0, abs(layout[2, 0]))


def test_gui_screenshot_command(tmp_path, photo_folder):
    """`explorer gui DATASET --screenshot PATH` runs the pipeline headless, saves the window, exits 0."""
    import os

    from PIL import Image

    shot = tmp_path / "window.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", EXPLORER_CACHE_DIR=str(tmp_path / "cache"),
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.run([sys.executable, "-m", "explorer", "gui", str(photo_folder), "--model", "resnet18",
                           "--weights", "random", "--projection", "pca", "--screenshot", str(shot)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    img = Image.open(shot)
    assert img.size[0] >= 800 and img.size[1] >= 500
    colours = np.asarray(img.convert("RGB").resize((64, 64))).reshape(-1, 3)
    assert len(np.unique(colours, axis=0)) > 20  # a drawn window, not a blank


def test_cached_run_is_found_without_loading_the_model(capsys, photo_folder, monkeypatch):
    args = ["embed", str(photo_folder), "--model", "alexnet", "--weights", "random", "--image-size", "64"]
    assert main(args) == 0
    first = capsys.readouterr().out
    import explorer.core.pipeline as pipeline

    monkeypatch.setattr(pipeline, "prepare", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded")))
    assert main(args) == 0
    second = capsys.readouterr().out
    assert "already complete, reused" in second and second.split(":")[0] == first.split(":")[0]


def test_app_without_a_display_says_what_to_do():
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "explorer"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "explorer demo" in proc.stderr and "Traceback" not in proc.stderr


def test_cache_listing_and_clearing(capsys, photo_folder):
    assert main(["embed", str(photo_folder), "--model", "alexnet", "--weights", "random", "--image-size", "64"]) == 0
    capsys.readouterr()
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert "1 runs" in out and "alexnet/avgpool" in out and "complete" in out and "8 images" in out
    assert main(["cache", "--clear"]) == 0
    assert "removed 1 cached runs" in capsys.readouterr().out
    assert main(["cache"]) == 0 and "0 runs" in capsys.readouterr().out


def test_embed_several_layers_in_one_pass(capsys, photo_folder, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, "embed", str(photo_folder), "--out", str(run_dir), "--model", "resnet18",
                             "--weights", "random", "--image-size", "64", "--layer", "layer3.1.relu_1,layer4.1.relu_1",
                             "--layer", "avgpool")
    assert code == 0, err
    run = load_run(run_dir)
    assert run.layers == ["layer3.1.relu_1", "layer4.1.relu_1", "avgpool"] and run.counts()["embedded"] == 8
    assert run.array("features", "avgpool").shape == (8, 512)
    # each layer's numbers are those of a one-layer run of that layer
    single = tmp_path / "single"
    assert main(["embed", str(photo_folder), "--out", str(single), "--model", "resnet18", "--weights", "random",
                 "--image-size", "64", "--layer", "layer4.1.relu_1"]) == 0
    np.testing.assert_allclose(np.asarray(run.array("features", "layer4.1.relu_1"), np.float32),
                               np.asarray(load_run(single).features, np.float32), rtol=1e-3, atol=1e-3)
