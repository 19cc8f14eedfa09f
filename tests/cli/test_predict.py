"""explorer predict / explorer accuracy on runs with known logits (issue 12, predictions)."""

import json
import shutil
from pathlib import Path

import numpy as np

from explorer.cli.main import main

from ..core.test_predictions import ESPRESSO, TABBY, _softmax, prediction_run

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_lists_each_images_top_classes(capsys, tmp_path):
    labels = ["n02123045", "espresso", "n02123045", "cat"]
    run, logits = prediction_run(tmp_path / "run", labels, boost={"n02123045": [TABBY], "espresso": [ESPRESSO]})
    code, out, _ = run_cli(capsys, "predict", run.path, "--json", "--top", "3")
    assert code == 0
    rows = json.loads(out)
    p = _softmax(logits)
    for row, z, probs, label in zip(rows, logits, p, labels):
        order = np.argsort(-z, kind="stable")[:3]
        assert row["label"] == label and row["path"].startswith(label + "/")
        assert [t["class"] for t in row["top"]] == list(order)
        np.testing.assert_allclose([t["probability"] for t in row["top"]], probs[order], rtol=1e-3, atol=1e-6)
    assert rows[1]["top"][0]["name"] == "espresso" or rows[1]["top"][0]["class"] != ESPRESSO
    # more than the five kept: from the stored logits
    code, out, _ = run_cli(capsys, "predict", run.path, "--json", "--top", "8")
    assert code == 0 and [t["class"] for t in json.loads(out)[0]["top"]] == list(np.argsort(-logits[0], kind="stable")[:8])
    code, out, _ = run_cli(capsys, "predict", run.path)
    assert code == 0 and len(out.splitlines()) == len(labels) and "%" in out


def test_accuracy_json_and_text(capsys, tmp_path):
    labels = ["n02123045", "espresso", "crane"] * 10
    run, logits = prediction_run(tmp_path / "run", labels, boost={"n02123045": [TABBY], "espresso": [ESPRESSO]})
    code, out, _ = run_cli(capsys, "accuracy", run.path, "--json")
    assert code == 0
    result = json.loads(out)
    top1 = np.argsort(-logits, axis=1, kind="stable")[:, 0]
    want = {"n02123045": TABBY, "espresso": ESPRESSO}
    hits = [top1[i] == want[lab] for i, lab in enumerate(labels) if lab in want]
    assert result["n"] == 20 and result["top1"] == np.mean(hits) and result["left_out"] == 10
    assert result["mapping"]["n02123045"] == {"classes": [TABBY], "names": ["tabby"], "how": "wordnet id",
                                              "note": None}
    assert result["mapping"]["crane"]["classes"] == [] and set(result["per_class"]) == set(want)
    assert all({"label", "class", "name", "count"} <= set(c) for c in result["confused"])
    code, out, _ = run_cli(capsys, "accuracy", run.path)
    assert code == 0 and out.startswith("top-1 ") and "crane" in out and "not mapped" in out


def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path):
    run, _ = prediction_run(tmp_path / "run", ["cat", "dog"] * 2)
    bad = tmp_path / "map.csv"
    bad.write_text("label,class\ncat,281\ndog,1234\n")
    code, out, err = run_cli(capsys, "accuracy", run.path, "--mapping", bad)
    assert code == 2 and out == "" and err.count("\n") == 1 and f"{bad} row 3: class 1234" in err
    code, _, err = run_cli(capsys, "accuracy", run.path)
    assert code == 2 and err.count("\n") == 1 and "--mapping" in err
    code, _, err = run_cli(capsys, "predict", run.path, "--top", "0")
    assert code == 2 and err.count("\n") == 1
    shutil.copytree(FIXTURES / "run_v1", tmp_path / "old")
    for command in ("predict", "accuracy"):
        code, _, err = run_cli(capsys, command, tmp_path / "old")
        assert code == 2 and err.count("\n") == 1 and "no predictions" in err and "explorer embed" in err


def test_embed_keeps_predictions_unless_told_not_to(capsys, photo_folder, tmp_path):
    common = ["--model", "resnet18", "--weights", "random", "--image-size", "32", "--layer", "layer1"]
    code, _, _ = run_cli(capsys, "embed", photo_folder, "--out", tmp_path / "plain", "--no-predictions", *common)
    assert code == 0
    code, _, err = run_cli(capsys, "predict", tmp_path / "plain")
    assert code == 2 and "no predictions (it was embedded with --no-predictions)" in err and "--out" in err
    code, _, _ = run_cli(capsys, "embed", photo_folder, "--out", tmp_path / "full", *common)
    code, out, _ = run_cli(capsys, "predict", tmp_path / "full", "--json")
    assert code == 0 and len(json.loads(out)) == 8 and all(len(r["top"]) == 5 for r in json.loads(out))
