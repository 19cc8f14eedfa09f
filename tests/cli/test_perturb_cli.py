"""explorer perturb and explorer robustness (issue 13): JSON lines, PNGs, the map and one-line errors."""

import json

import numpy as np
import pytest
from PIL import Image

from explorer.cli.main import main

MODEL = ("--model", "resnet18", "--weights", "random", "--image-size", "64")
KEYS = {"value", "top1", "top1_name", "top1_probability", "original_class_probability", "cosine_to_original"}


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    path = tmp_path_factory.mktemp("pic") / "pic.png"
    rng = np.random.default_rng(3)
    Image.fromarray((rng.random((60, 80, 3)) * 255).astype(np.uint8)).save(path)
    return path


def test_json_line_per_value_and_pngs(capsys, tmp_path, picture):
    code, out, err = run_cli(capsys, "perturb", picture, *MODEL, "--kind", "rotate", "--values", "0:90:45",
                             "--json", "--out", tmp_path / "out")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [r["value"] for r in lines] == [0, 45, 90]
    assert all(set(r) == KEYS | {"file"} for r in lines)
    assert lines[0]["cosine_to_original"] == pytest.approx(1.0, abs=1e-5)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "original.png", "rotate-00-0.png", "rotate-01-45.png", "rotate-02-90.png"]
    assert Image.open(tmp_path / "out" / "rotate-01-45.png").size == (64, 64)


def test_fgsm_towards_a_class_writes_the_amplified_perturbation(capsys, tmp_path, picture):
    code, out, err = run_cli(capsys, "perturb", picture, *MODEL, "--kind", "fgsm", "--values", "4", "--target",
                             "goldfish", "--out", tmp_path)
    assert code == 0, err
    assert "towards goldfish (#1)" in out and "fgsm at layer4.1.relu_1" in out
    p = np.asarray(Image.open(tmp_path / "fgsm-00-4-perturbation.png"), np.int16)
    # +-eps almost everywhere, amplified to black and white; less only where the pixel range clipped it
    assert np.isin(p, (0, 255)).mean() > 0.9


@pytest.mark.parametrize("args,message", [
    (("--kind", "wobble"), "choose one of"),
    (("--kind", "rotate", "--values", "0:10"), "START:STOP:STEP"),
    (("--kind", "jpeg", "--values", "0:50:10"), "from 1 to 100"),
    (("--kind", "blur", "--target", "3"), "fgsm and pgd"),
])
def test_bad_arguments_are_one_line_errors(capsys, picture, args, message):
    code, out, err = run_cli(capsys, "perturb", picture, *MODEL, *args)
    assert code == 2 and message in err and err.count("\n") == 1


def test_a_missing_image_is_one_line(capsys, tmp_path):
    code, out, err = run_cli(capsys, "perturb", tmp_path / "nope.png", *MODEL, "--kind", "rotate")
    assert code == 2 and "nope.png" in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir()
        for i in range(3):
            Image.fromarray((rng.random((40, 40, 3)) * 255).astype(np.uint8)).save(root / label / f"{i}.png")
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["embed", str(root), *MODEL, "--layer", "layer3", "--out", str(out), "--device", "cpu"]) == 0
    return root, out


def test_perturb_into_a_runs_map_and_the_robustness_table(capsys, small_run):
    root, out = small_run
    capsys.readouterr()
    code, _, err = run_cli(capsys, "perturb", root / "a" / "0.png", "--run", out, "--kind", "noise")
    assert code == 2 and "explorer project" in err  # no map yet
    assert run_cli(capsys, "project", out, "--method", "pca")[0] == 0
    code, text, err = run_cli(capsys, "perturb", root / "a" / "0.png", "--run", out, "--kind", "noise",
                              "--values", "0,0.3", "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in text.splitlines()]
    assert all({"map_x", "map_y"} <= set(r) for r in lines)
    layout = np.load(out / "projection-pca.npy")
    spread = np.ptp(layout, axis=0).max()
    assert np.hypot(lines[0]["map_x"] - layout[0, 0], lines[0]["map_y"] - layout[0, 1]) < 0.01 * spread
    code, text, err = run_cli(capsys, "robustness", out, "--kind", "brightness", "--values", "1,0.5", "--sample", "4",
                              "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in text.splitlines()]
    assert [r["value"] for r in rows] == [1, 0.5] and set(rows[0]) == {"value", "agreement", "mean_cosine"}
    assert rows[0]["agreement"] == 1.0
    code, text, err = run_cli(capsys, "robustness", out, "--kind", "fgsm", "--values", "0,2", "--sample", "2")
    assert code == 0, err
    assert "success" in text and "no label maps" in text


def test_also_layers_add_a_cosine_per_layer(capsys, picture):
    code, out, err = run_cli(capsys, "perturb", picture, *MODEL, "--kind", "contrast", "--values", "0.5",
                             "--also-layers", "layer1,layer3", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert set(record["cosine_by_layer"]) == {"layer4.1.relu_1", "layer1.1.relu_1", "layer3.1.relu_1"}
    code, out, err = run_cli(capsys, "perturb", picture, *MODEL, "--kind", "contrast", "--also-layers", "layerx")
    assert code == 2 and "layerx" in err and err.count("\n") == 1
