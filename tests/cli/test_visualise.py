"""explorer visualise: the image, the JSON record, one-line errors."""

import json

from PIL import Image

from explorer.cli.main import main


def test_visualise_a_channel_and_a_class(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "vis.png"
    code = main(["visualise", "resnet18", "--weights", "random", "--image-size", "48", "--layer", "layer2",
                 "--channel", "7", "--steps", "6", "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    record = json.loads(captured.out)
    assert record["layer"] == "layer2.1.relu_1" and record["channel"] == 7 and record["class"] is None
    assert record["steps"] == 6 and record["objective_end"] > record["objective_start"]
    assert Image.open(out).size == (48, 48)
    code = main(["visualise", "resnet18", "--weights", "random", "--image-size", "48", "--class", "goldfish",
                 "--steps", "3", "--images", "2", "--out", str(tmp_path / "fish.png"), "--json"])
    record = json.loads(capsys.readouterr().out)
    assert code == 0 and record["class"] == 1 and record["class_name"] == "goldfish"
    assert sorted(p.name for p in tmp_path.glob("fish-*.png")) == ["fish-0.png", "fish-1.png"]


def test_errors_are_one_line(capsys, tmp_path):
    code = main(["visualise", "resnet18", "--weights", "random", "--channel", "3", "--out", str(tmp_path / "a.png")])
    assert code == 2 and "--channel needs --layer" in capsys.readouterr().err
    code = main(["visualise", "resnet18", "--weights", "random", "--class", "3", "--unit",
                 "--out", str(tmp_path / "a.png")])
    assert code == 2 and "--unit goes with --channel" in capsys.readouterr().err
    code = main(["visualise", "resnet18", "--weights", "random", "--class", "3", "--out", str(tmp_path / "a.xyz")])
    assert code == 2 and "not an image format" in capsys.readouterr().err
