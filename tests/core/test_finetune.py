"""Fine-tuning a new head: truthful validation accuracy, a frozen backbone, checkpoints --weights loads."""

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from explorer.core.data.datasets import open_dataset
from explorer.core.engine.finetune import FinetuneConfig, finetune
from explorer.core.errors import DatasetError, ExplorerError
from explorer.core.model.zoo import load_model
from explorer.core.progress import run_to_end

COLOURS = {"blue": (60, 60, 200), "green": (60, 190, 60), "red": (200, 60, 60)}


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    root = tmp_path_factory.mktemp("colours")
    rng = np.random.default_rng(0)
    for label, colour in COLOURS.items():
        (root / label).mkdir()
        for i in range(7):
            a = np.clip(rng.normal(0, 70, (40, 40, 3)) + colour, 0, 255).astype(np.uint8)
            Image.fromarray(a).save(root / label / f"{label}{i}.png")
    return root


@pytest.fixture(scope="module")
def model():
    return load_model("resnet18", "random", image_size=64)


def val_split(dataset):
    labels = [it.label for it in dataset.items]
    idx = np.arange(len(labels))
    _, val = train_test_split(idx, test_size=max(3, round(0.2 * len(labels))), stratify=labels, random_state=0)
    return np.sort(val), sorted(set(labels))


def test_head_only_reports_the_accuracy_its_checkpoint_has(colours, model, tmp_path):
    dataset = open_dataset(colours)
    out = tmp_path / "ft.pt"
    result = run_to_end(finetune(dataset, model, out=out, config=FinetuneConfig(epochs=12, lr=3e-3)))
    assert result.classes == sorted(COLOURS) and result.head == "fc" and result.trained == []
    assert (result.n_train, result.n_val) == (17, 4)

    # independently: torchvision's resnet18 with a 3-class head, the saved tensors, the validation images
    saved = torch.load(out, weights_only=True)
    assert saved["classes"] == sorted(COLOURS)
    net = torchvision.models.resnet18(num_classes=3).eval()
    net.load_state_dict(saved["state_dict"])
    val, classes = val_split(dataset)
    x = torch.stack([model.preprocess(dataset.load(i)[0]) for i in val])
    y = np.array([classes.index(dataset.items[i].label) for i in val])
    with torch.no_grad():
        predicted = net(x).argmax(1).numpy()
    assert result.val_accuracy == pytest.approx(float((predicted == y).mean()))
    # the backbone is the random model's, untouched (batch-norm statistics included)
    original = model.module.state_dict()
    for key, value in saved["state_dict"].items():
        if not key.startswith("fc."):
            assert torch.equal(value, original[key]), key
    # fine-tuning beats the frozen probe, or says why not
    assert result.val_accuracy > result.probe_val_accuracy or result.note

    loaded = load_model("resnet18", str(out), image_size=64)
    assert loaded.categories == sorted(COLOURS) and loaded.module.fc.out_features == 3
    with torch.no_grad():
        assert torch.equal(loaded.module(x).argmax(1), torch.as_tensor(predicted))


def test_the_probe_baseline_is_logistic_regression_on_the_head_inputs(colours, model, tmp_path):
    from torchvision.models.feature_extraction import create_feature_extractor

    dataset = open_dataset(colours)
    result = run_to_end(finetune(dataset, model, out=tmp_path / "ft.pt", config=FinetuneConfig(epochs=1)))
    extractor = create_feature_extractor(model.module.eval(), ["flatten"])
    x = torch.stack([model.preprocess(dataset.load(i)[0]) for i in range(len(dataset))])
    with torch.no_grad():
        features = extractor(x)["flatten"].numpy()
    labels = [it.label for it in dataset.items]
    val, classes = val_split(dataset)
    train = np.setdiff1d(np.arange(len(labels)), val)
    y = np.array([classes.index(l) for l in labels])
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=0))
    clf.fit(features[train], y[train])
    assert result.probe_val_accuracy == pytest.approx(clf.score(features[val], y[val]))


def test_unfreezing_trains_only_the_last_block(colours, model, tmp_path):
    result = run_to_end(finetune(open_dataset(colours), model, out=tmp_path / "ft.pt",
                                 config=FinetuneConfig(epochs=2, unfreeze=1, lr=1e-2)))
    assert result.trained == ["layer4.1"] and result.probe_val_accuracy is None
    saved = torch.load(tmp_path / "ft.pt", weights_only=True)["state_dict"]
    original = model.module.state_dict()
    changed = [k for k, v in saved.items() if not k.startswith("fc.") and not torch.equal(v, original[k])]
    assert changed and all(k.startswith("layer4.1.") for k in changed)
    bn = "layer4.1.bn2.running_mean"
    assert torch.equal(saved[bn], original[bn])  # batch norms keep their statistics


def test_early_stopping_and_cancel_leave_no_half_file(colours, model, tmp_path):
    result = run_to_end(finetune(open_dataset(colours), model, out=tmp_path / "ft.pt",
                                 config=FinetuneConfig(epochs=50, lr=1e-12, patience=2)))
    assert result.stopped_early and len(result.epochs) == 3  # the first epoch, then two without a lower loss
    work = finetune(open_dataset(colours), model, out=tmp_path / "cancelled.pt",
                    config=FinetuneConfig(epochs=50, unfreeze=1))
    next(work)
    next(work)
    work.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ft.pt"]


def test_too_few_images_or_blocks_are_clear(tmp_path, model, colours):
    for label, n in (("a", 3), ("b", 1)):
        (tmp_path / label).mkdir()
        for i in range(n):
            Image.new("RGB", (20, 20), (i * 40, 0, 0)).save(tmp_path / label / f"{i}.png")
    with pytest.raises(DatasetError, match="class 'b' has 1 image"):
        run_to_end(finetune(open_dataset(tmp_path), model, out=tmp_path / "x.pt"))
    with pytest.raises(ExplorerError, match="--unfreeze 99: the model has 10 units"):
        run_to_end(finetune(open_dataset(colours), model, out=tmp_path / "x.pt", config=FinetuneConfig(unfreeze=99)))
    assert not (tmp_path / "x.pt").exists()
