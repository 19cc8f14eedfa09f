"""explorer explain: JSON lines, raw maps at the input resolution, figures, and one-line errors."""

import json

import numpy as np
from PIL import Image

from explorer.cli.main import main

MODEL = ("--model", "resnet18", "--weights", "random", "--image-size", "64")


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def photo(tmp_path, name="cat.png", size=(90, 60)):
    rng = np.random.default_rng(len(name))
    path = tmp_path / name
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def test_json_lines_raw_maps_and_figures(capsys, tmp_path):
    a, b = photo(tmp_path, "a.png"), photo(tmp_path, "b.png", (60, 90))
    code, out, err = run_cli(capsys, "explain", str(a), str(b), *MODEL, "--method", "gradcam", "--target", "top2",
                             "--json", "--out", str(tmp_path / "fig.png"), "--save-map", str(tmp_path / "map.npy"))
    assert code == 0, err
    lines = [json.loads(l) for l in out.splitlines()]
    assert [l["path"] for l in lines] == [str(a), str(b)]
    first = lines[0]
    assert first["method"] == "gradcam" and first["layer"] == "layer4.1.relu_1" and first["input_size"] == 64
    assert set(first) >= {"target", "target_name", "score", "probability"}
    assert 0 < first["probability"] < 1
    raw = np.load(tmp_path / "map-0-a.npy")
    assert raw.shape == (64, 64) and raw.dtype == np.float32 and raw.min() >= 0
    fig = Image.open(tmp_path / "fig-1-b.png")
    assert fig.width == 512 and fig.height > 512 * 90 / 60  # the true aspect ratio, plus scale and caption


def test_gradient_maps_have_colour_channels_and_occlusion_settings_are_reported(capsys, tmp_path):
    a = photo(tmp_path)
    code, out, err = run_cli(capsys, "explain", str(a), *MODEL, "--method", "guided-backprop", "--json",
                             "--save-map", str(tmp_path / "g.npy"))
    assert code == 0, err
    assert np.load(tmp_path / "g.npy").shape == (3, 64, 64)
    code, out, err = run_cli(capsys, "explain", str(a), *MODEL, "--method", "occlusion", "--window", "16",
                             "--stride", "16", "--baseline", "blur", "--target", "3", "--json",
                             "--save-map", str(tmp_path / "o.npy"))
    assert code == 0, err
    line = json.loads(out)
    assert (line["window"], line["stride"], line["baseline"], line["target"]) == (16, 16, "blur", 3)
    assert np.load(tmp_path / "o.npy").shape == (64, 64)


def test_sanity_and_faithfulness_in_json(capsys, tmp_path):
    a = photo(tmp_path)
    code, out, err = run_cli(capsys, "explain", str(a), *MODEL, "--method", "gradcam", "--sanity",
                             "--faithfulness", "--json")
    assert code == 0, err
    line = json.loads(out)
    assert line["sanity_units"][:3] == ["fc", "layer4.1", "layer4.0"]  # sequences opened one level
    assert len(line["sanity_rank_corr"]) == len(line["sanity_units"])
    assert 0 <= line["deletion_auc"] <= 1 and 0 <= line["insertion_auc"] <= 1


def test_errors_are_one_line(capsys, tmp_path):
    a = photo(tmp_path)
    code, _, err = run_cli(capsys, "explain", str(a), *MODEL, "--method", "lime")
    assert code == 2 and "--method 'lime'" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "explain", str(a), "--model", "alexnet", "--weights", "random",
                           "--method", "cam")
    assert code == 2 and "3 linear layers" in err and "gradcam" in err
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    code, out, err = run_cli(capsys, "explain", str(bad), str(a), *MODEL, "--json")
    assert code == 0 and "bad.jpg" in err and json.loads(out)["path"] == str(a)
    code, _, err = run_cli(capsys, "explain", str(a), *MODEL, "--target", "zebraa")
    assert code == 2 and "names no class" in err and "zebra" in err  # a close match is offered
