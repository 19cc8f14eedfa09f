"""The robustness table of a run (issue 13) against a by-hand loop over the plain model."""

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.core.progress import run_to_end


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """6 random pictures in folders named after ImageNet classes, embedded by a random resnet18 at 64 px."""
    from explorer.core.data.datasets import open_dataset
    from explorer.core.engine.embedding import embed_dataset
    from explorer.core.model.zoo import load_model

    root = tmp_path_factory.mktemp("classes")
    rng = np.random.default_rng(0)
    for label in ("goldfish", "tench"):
        (root / label).mkdir()
        for i in range(3):
            Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(root / label / f"{i}.png")
    model = load_model("resnet18", "random", image_size=64)
    result = run_to_end(embed_dataset(open_dataset(root), model, "layer3.1.relu_1",
                                      out=tmp_path_factory.mktemp("run") / "run", batch_size=4, device="cpu",
                                      workers=0))
    return result.run, model


def _by_hand(run, model, value):
    from torchvision.transforms import functional as F

    from explorer.core.analysis.perturb import network_input

    pre, names = model.preprocess, model.categories
    agree, right, cos = [], [], []
    ext = torch.nn.Sequential(*list(model.module.children())[:-3])  # up to layer3
    with torch.no_grad():
        for i, row in enumerate(run.rows):
            img = network_input(pre, run.source.load(i, row.path))
            xs = [F.normalize(F.pil_to_tensor(im).float() / 255, pre.mean, pre.std)
                  for im in (img, F.adjust_brightness(img, value))]
            x = torch.stack(xs)
            logits = model.module(x)
            feats = ext(x).mean((2, 3)).numpy()
            clean, top = int(logits[0].argmax()), int(logits[1].argmax())
            agree.append(top == clean)
            right.append(top == names.index(row.label))
            cos.append(feats[0] @ feats[1] / np.linalg.norm(feats[0]) / np.linalg.norm(feats[1]))
    return np.mean(agree), np.mean(right), np.mean(cos)


def test_table_equals_a_loop_over_the_plain_model(small_run):
    from explorer.core.analysis.robustness import robustness

    run, model = small_run
    table = run_to_end(robustness(run, "brightness", "1,0.3", loaded=model))
    assert table.layer == "layer3.1.relu_1" and table.n_images == 6 and table.n_labelled == 6
    one, dark = table.levels
    assert one.value == 1.0 and one.agreement == 1.0 and one.mean_cosine == pytest.approx(1.0, abs=1e-5)
    agreement, accuracy, mean_cos = _by_hand(run, model, 0.3)
    assert dark.agreement == pytest.approx(agreement)
    assert dark.accuracy == pytest.approx(accuracy)
    assert dark.mean_cosine == pytest.approx(mean_cos, abs=1e-4)
    assert set(dark.to_dict()) == {"value", "agreement", "accuracy", "mean_cosine"}


def test_a_sample_is_seeded_and_the_model_comes_from_the_run(small_run):
    from explorer.core.analysis.robustness import model_for_run, robustness, sample_rows

    run, _ = small_run
    assert list(sample_rows(run, 3, seed=5)) == list(sample_rows(run, 3, seed=5))
    assert len(sample_rows(run, 3, seed=5)) == 3 and len(sample_rows(run, None)) == 6
    table = run_to_end(robustness(run, "noise", "0.2", sample=3, seed=5))  # loads resnet18 random at 64
    again = run_to_end(robustness(run, "noise", "0.2", sample=3, seed=5, loaded=model_for_run(run)))
    assert table.n_images == 3 and table.levels == again.levels


def test_weights_that_differ_from_the_runs_are_refused(small_run, tmp_path):
    from explorer.core.analysis.robustness import model_for_run
    from explorer.core.errors import ExplorerError

    run, model = small_run
    path = tmp_path / "other.pt"
    torch.save({k: v + 1 if v.is_floating_point() else v for k, v in model.module.state_dict().items()}, path)
    with pytest.raises(ExplorerError, match="embedded with weights random"):
        model_for_run(run, str(path))


def test_a_runs_image_swept_lands_on_its_own_point_of_the_runs_map(small_run):
    from explorer.core.analysis.invariance import place_on_map, run_projector, sweep
    from explorer.core.analysis.kept_projections import fit_run
    from explorer.core.errors import ExplorerError

    run, model = small_run
    with pytest.raises(ExplorerError, match="explorer project"):
        run_projector(run)  # no map yet: says how to make one
    layout, _ = run_to_end(fit_run(run, "pca"))
    image = run.source.load(2, run.rows[2].path)
    s = run_to_end(sweep(model, image, "rotate", "0,45", layer=run.layer))
    path = place_on_map(run_projector(run), s)
    spread = np.ptp(layout, axis=0).max()
    assert np.linalg.norm(path[0] - layout[2]) < 0.01 * spread  # the clean image: float16 features in the run
    assert np.linalg.norm(path[1] - layout[2]) < 0.01 * spread  # 0 degrees: the same image
