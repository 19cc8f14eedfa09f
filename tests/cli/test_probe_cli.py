"""explorer probe / label-issues / duplicates: figures equal scikit-learn's and a brute force; one-line errors."""

import json

import numpy as np
import pytest

from explorer.cli.main import main
from explorer.core.run.store import load_run
from tests.core.test_probe import blob_run, brute_force_pairs, sklearn_pipeline


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_probe_a_run_json_matches_scikit_learn(capsys, tmp_path):
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    run, feats, _ = blob_run(tmp_path / "run")
    code, out, err = cli(capsys, "probe", tmp_path / "run", "--classifier", "knn,svm", "--folds", "4", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["layer"], r["classifier"]) for r in rows] == [("near", "knn"), ("near", "svm"), ("far", "knn"),
                                                              ("far", "svm")]
    y = np.array(["abc".index(label) for label in run.labels])
    for r in rows:
        expected = cross_val_score(sklearn_pipeline(r["classifier"]), feats[r["layer"]], y,
                                   cv=StratifiedKFold(4, shuffle=True, random_state=0))
        assert r["accuracy"] == pytest.approx(expected.mean(), abs=1e-12)
        assert r["std"] == pytest.approx(expected.std(), abs=1e-12) and r["n_features"] == 12
    code, out, _ = cli(capsys, "probe", tmp_path / "run", "--layers", "far")
    assert code == 0 and "far" in out and "near" not in out and "+-" in out
    code, out, _ = cli(capsys, "probe", tmp_path / "run", "--layers", "far", "--sample", "30", "--json")
    (r,) = json.loads(out)
    assert r["n"] == 30 and r["sample"] == 30
    assert [sum(row) for row in r["confusion"]] == [10, 10, 10]  # stratified: each class its share


def test_label_issues_and_duplicates_from_the_cli(capsys, tmp_path):
    flipped = [5, 26, 61, 100]
    run, feats, _ = blob_run(tmp_path / "run", n=120, flip=flipped, spread=(6.0, 6.0))
    code, out, err = cli(capsys, "label-issues", tmp_path / "run", "--layer", "far", "--json")
    assert code == 0, err
    issues = json.loads(out)
    assert {i["index"] for i in issues[:4]} == set(flipped) and issues[0]["rank"] == 1
    assert issues[0]["path"] == run.rows[issues[0]["index"]].path
    code, out, _ = cli(capsys, "label-issues", tmp_path / "run", "--layer", "far", "--top", "2")
    assert code == 0 and "kept from an earlier run" in out and "more (--top)" in out

    code, out, err = cli(capsys, "duplicates", tmp_path / "run", "--threshold", "0.05", "--json")
    assert code == 0, err
    pairs = json.loads(out)
    x = np.asarray(load_run(tmp_path / "run").features, np.float32)
    assert sorted((p["a"], p["b"]) for p in pairs) == brute_force_pairs(x, 0.05)
    assert [p["distance"] for p in pairs] == sorted(p["distance"] for p in pairs)
    assert pairs[0]["path_a"] == run.rows[pairs[0]["a"]].path


def test_probe_a_dataset_by_blocks_in_one_pass(capsys, photo_folder):
    code, out, err = cli(capsys, "probe", photo_folder, "--model", "resnet18", "--weights", "random",
                         "--image-size", "64", "--blocks", "--folds", "2", "--classifier", "all", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["block"] for r in rows[::3]] == ["layer1", "layer2", "layer3", "layer4"]
    assert {r["classifier"] for r in rows} == {"knn", "logreg", "svm"} and all(r["n"] == 8 for r in rows)
    assert [r["n_features"] for r in rows[::3]] == [64, 128, 256, 512]
    run = load_run(err.split("features kept in ")[1].strip())
    assert len(run.layers) == 4  # one multi-layer run: a single pass over the images


def test_probe_errors_are_one_line(capsys, tmp_path):
    run, _, _ = blob_run(tmp_path / "run")
    for args, message in [(("probe", tmp_path / "run", "--classifier", "forest"), "must be knn, logreg, svm"),
                          (("probe", tmp_path / "run", "--folds", "1"), "folds, 2 or more"),
                          (("probe", tmp_path / "run", "--blocks"), "is a run folder"),
                          (("probe", tmp_path / "run", "--layers", "nowhere"), "No layer or block named 'nowhere'"),
                          (("probe", tmp_path / "nothing"), "Dataset folder not found"),
                          (("label-issues", tmp_path, "--json"), "not a run folder"),
                          (("duplicates", tmp_path / "run", "--threshold", "3"), "cosine distance from 0 to 2")]:
        code, _, err = cli(capsys, *args)
        assert code == 2 and message in err and "Traceback" not in err, (args, err)
        assert err.strip().count("\n") == 0, err  # one line (a progress bar erased with \r before it)
