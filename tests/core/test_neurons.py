"""Kernels and maximally activating patches, against independent computations."""

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision.models.feature_extraction import create_feature_extractor

from explorer.core.data.datasets import open_dataset
from explorer.core.engine.embedding import embed_dataset
from explorer.core.errors import ExplorerError
from explorer.core.model.kernels import kernel_grid, kernel_tiles
from explorer.core.model.zoo import load_model
from explorer.core.analysis.patches import channel_patches, channel_stats, crop_patch, top_channels, top_patches
from explorer.core.progress import run_to_end


def test_kernel_grids_of_the_zoo():
    alex = kernel_grid(load_model("alexnet", "random").module)
    assert (alex.n_kernels, alex.kernel_size, alex.colour) == (64, (11, 11), True)
    eff = kernel_grid(load_model("efficientnet_lite0").module)
    assert (eff.n_kernels, eff.kernel_size, eff.layer) == (32, (3, 3), "conv_stem")
    # tiles are enlarged by repetition: each kernel pixel is a flat scale x scale block
    s, g = eff.scale, eff.gap
    block = eff.image[g:g + s, g:g + s]
    assert (block == block[0, 0]).all()
    assert eff.tile_at(g + 1, g + 1) == 0 and eff.tile_at(0, 0) == -1
    assert eff.tile_at(g + (3 * s + g) * 2 + 1, g + 1) == 2


def test_kernel_tiles_are_symmetric_around_grey():
    w = np.zeros((2, 3, 3, 3))
    w[0, 0, 1, 1] = 2.0  # a red positive centre
    w[1, 2, 0, 0] = -4.0  # a blue negative corner
    tiles, colour = kernel_tiles(w)
    assert colour
    np.testing.assert_allclose(tiles[0, 0, 0], [0.5, 0.5, 0.5])  # zero -> mid-grey
    np.testing.assert_allclose(tiles[0, 1, 1], [1.0, 0.5, 0.5])
    np.testing.assert_allclose(tiles[1, 0, 0], [0.5, 0.5, 0.0])
    grey, colour = kernel_tiles(np.ones((4, 1, 5, 5)))  # one input channel (grey input / depthwise)
    assert not colour and grey.shape == (4, 5, 5, 3) and np.allclose(grey, 1.0)


@pytest.fixture(scope="module")
def resnet_run(photo_folder, tmp_path_factory):
    model = load_model("resnet18", "random")
    out = tmp_path_factory.mktemp("run") / "resnet"
    return run_to_end(embed_dataset(open_dataset(photo_folder), model, "layer2.1.add", out=out)).run


def test_top_patches_equal_brute_force_recomputation(resnet_run, photo_folder):
    run = resnet_run
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    model.load_state_dict(load_model("resnet18", "random").module.state_dict())
    transform = load_model("resnet18", "random").preprocess  # = torchvision's preset, see test_preprocess
    x = torch.stack([transform(Image.open(photo_folder / r.path).convert("RGB")) for r in run.rows])
    with torch.no_grad():
        maps = create_feature_extractor(model, {"layer2.1.add": "o"})(x)["o"]  # (8, 128, 28, 28)
    for channel in (0, 5, 77):
        flat = maps[:, channel].flatten(1)
        best, where = flat.max(1)
        order = torch.argsort(best, descending=True)[:4]
        patches = top_patches(run, channel, 4)
        # same ranking, except where two images tie within float16 storage precision
        np.testing.assert_allclose([p.activation for p in patches], best[order].numpy(), rtol=2e-3, atol=1e-3)
        for p, i in zip(patches, order.tolist()):
            assert p.index == i or abs(best[p.index] - best[i]) <= 2e-3 * abs(best[i])
            np.testing.assert_allclose(p.activation, best[p.index].item(), rtol=2e-3, atol=1e-3)
            assert p.unit == divmod(int(where[p.index]), 28)


def test_patch_boxes_equal_receptive_field_arithmetic_for_vgg16(tmp_path):
    """Corner and centre units of VGG16 conv layers, by the textbook recurrence, through the crop."""
    layers = [("c", 3, 1, 1)] * 2 + [("p", 2, 2, 0)] + [("c", 3, 1, 1)] * 2 + [("p", 2, 2, 0)] + \
        [("c", 3, 1, 1)] * 3 + [("p", 2, 2, 0)]
    names = ["features.0", "features.2", "features.4", "features.5", "features.7", "features.9",
             "features.10", "features.12", "features.14", "features.16"]

    def textbook(layer_index, u):
        j, r, start = 1, 1, 0.5  # pixel-centre coordinates
        for _kind, k, s, p in layers[:layer_index + 1]:
            r, start, j = r + (k - 1) * j, start + ((k - 1) / 2 - p) * j, j * s
        centre = start + u * j
        return centre - r / 2, centre + r / 2  # [lo, hi) in pixel edges

    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (256, 256), (128, 64, 32)).save(folder / "a.png")  # resize 256 -> crop 224 at (16, 16)
    model = load_model("vgg16", "random")
    for li in (1, 5, 8):
        run = run_to_end(embed_dataset(open_dataset(folder), model, names[li], out=tmp_path / names[li])).run
        size = run.manifest["layer_shape"][1]
        from explorer.core.analysis.patches import patch_box

        for u in (0, size // 2, size - 1):
            lo, hi = textbook(li, u)
            expected = (max(0, round(lo)) + 16, min(224, round(hi)) + 16)
            box = patch_box(run, 0, (u, u))
            assert (box[0], box[2]) == expected and (box[1], box[3]) == expected, (names[li], u, box)


def test_patch_crops_and_cli(resnet_run, capsys, tmp_path):
    import json

    from explorer.cli.main import main

    patches = top_patches(resnet_run, 3, 3)
    img = crop_patch(resnet_run, patches[0])
    left, top, right, bottom = patches[0].box
    assert img.size == (right - left, bottom - top)
    assert main(["patches", str(resnet_run.path), "--channel", "3", "-k", "3", "--out", str(tmp_path / "p"),
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [p["index"] for p in printed] == [p.index for p in patches]
    assert printed[0]["box"] == list(patches[0].box) and set(printed[0]) == {"index", "path", "activation", "box"}
    assert len(list((tmp_path / "p").glob("*.png"))) == 3
    with pytest.raises(ExplorerError, match="does not exist"):
        top_patches(resnet_run, 999)
    assert main(["kernels", "alexnet", "--weights", "random", "--out", str(tmp_path / "k.png")]) == 0
    assert Image.open(tmp_path / "k.png").size[0] > 300


def test_channel_statistics(resnet_run):
    means, maxima = channel_stats(resnet_run)
    feats = np.asarray(resnet_run.features, np.float64)
    np.testing.assert_allclose(means, feats.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(maxima, np.asarray(resnet_run.channel_max, np.float64).max(0), rtol=1e-6)
    top = top_channels(resnet_run, 2, 5)
    row = np.asarray(resnet_run.channel_max[2], np.float64)
    mean = np.asarray(resnet_run.features[2], np.float64)
    expected = sorted(range(len(row)), key=lambda c: (-row[c], -mean[c], c))[:5]
    assert [c for c, _ in top] == expected


# --- a measure that does not saturate (issue 10, "Neurons that can be read") --------------------------

@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """60 digits of the demo through the bundled EfficientNet-Lite0 at its default layer (bn2, ReLU6)."""
    dataset = open_dataset("demo:digits")
    dataset.items = dataset.items[:60]
    model = load_model("efficientnet_lite0")
    out = tmp_path_factory.mktemp("demo") / "run"
    run = run_to_end(embed_dataset(dataset, model, None, out=out, batch_size=30, workers=0)).run
    # independently: the model's own bn2 module (BatchNorm + ReLU6) through a forward hook, in numpy
    captured = []
    handle = model.module.bn2.register_forward_hook(lambda _m, _i, out: captured.append(out.numpy()))
    with torch.no_grad():
        model.module(torch.stack([model.preprocess(dataset.load(i)[0]) for i in range(len(dataset.items))]))
    handle.remove()
    return run, captured[0]  # (60, 1280, 7, 7)


def test_default_layer_of_the_demo_ranks_by_a_measure_that_does_not_tie(demo_run):
    from explorer.core.analysis.measures import activation_cap, channel_summary, channel_values, resolve_measure

    run, maps = demo_run
    assert run.layer == "bn2"
    maxima, means = maps.max((2, 3)), maps.mean((2, 3))
    # the stored measures are the numpy ones (float16 storage, folded batch norms)
    np.testing.assert_allclose(np.stack([channel_values(run, c, "mean") for c in range(1280)], 1), means,
                               rtol=1e-2, atol=2e-2)
    np.testing.assert_allclose(np.stack([channel_values(run, c, "max") for c in range(1280)], 1), maxima,
                               rtol=1e-2, atol=2e-2)
    # ReLU6 saturates: many channels reach 6 in most images, so the maximum cannot rank them
    assert activation_cap(run) == 6.0 and resolve_measure(run, "auto") == "mean"
    summary = channel_summary(run)
    np.testing.assert_allclose(summary.at_cap, (maxima >= 6.0 - 1e-4).mean(0), atol=2 / 60)
    assert summary.saturated.sum() >= 10
    tied = [c for c in range(1280) if (maxima[:, c] >= 6.0 - 1e-4).sum() >= 9]
    assert len(tied) >= 50  # channels whose top 9 all read 6.00 by the maximum
    for c in tied[:: max(1, len(tied) // 20)]:
        by_max = channel_patches(run, c, 9, "max").ranked
        assert len({p.activation for p in by_max}) == 1  # the bug: all ties
        found = channel_patches(run, c, 9)  # the default measure
        values = [p.activation for p in found.ranked]
        assert found.measure == "mean" and len(set(values)) > 1 and values == sorted(values, reverse=True)
        expected = np.argsort(-means[:, c], kind="stable")[:9]  # numpy's ranking, up to float16 near-ties
        for p, i in zip(found.ranked, expected):
            assert p.index == i or abs(means[p.index, c] - means[i, c]) < 2e-2
    # the strongest channels of an image read more than one value
    for index in (0, 17, 42):
        strongest = top_channels(run, index, 10)
        assert len({v for _, v in strongest}) > 1
        assert [c for c, _ in strongest][:3] == [int(c) for c in np.argsort(-means[index])[:3]] or \
            np.ptp([means[index, c] for c, _ in strongest[:3]]) < 5e-2


def test_measures_on_runs_without_a_cap_and_old_runs(resnet_run):
    from pathlib import Path

    from explorer.core.analysis.measures import activation_cap, check_measure, resolve_measure
    from explorer.core.run.store import load_run

    assert activation_cap(resnet_run) is None and resolve_measure(resnet_run) == "max"
    by_mean = channel_patches(resnet_run, 7, 4, "mean")
    column = np.asarray(resnet_run.features[:, 7], np.float32)
    assert by_mean.measure == "mean" and [p.index for p in by_mean.ranked] == list(np.argsort(-column)[:4])
    with pytest.raises(ExplorerError, match="Unknown measure 'median'; choose auto, max"):
        check_measure("median")
    # a run of the first release (no measure recorded anywhere) ranks as before
    old = load_run(Path(__file__).parents[1] / "fixtures" / "run_v1")
    found = channel_patches(old, 0, 3)
    top = np.sort(np.asarray(old.channel_max[:, 0], np.float32)[old.done_mask])[::-1][:3]
    assert found.measure == "max" and [p.activation for p in found.ranked] == list(top)


def test_patches_cli_says_which_measure(demo_run, capsys, tmp_path):
    import json

    from explorer.cli.main import main

    run, maps = demo_run
    channel = int(np.argmax((maps.max((2, 3)) >= 6.0 - 1e-4).sum(0)))  # the most saturated channel
    assert main(["patches", str(run.path), "--channel", str(channel), "-k", "3", "--out", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "ranked by the spatial mean (mean over the map)" in out and "saturate at 6" in out
    assert "(saturated)" in out
    assert main(["patches", str(run.path), "--channel", str(channel), "-k", "3", "--out", str(tmp_path / "q"),
                 "--measure", "max", "--json"]) == 0
    out, err = capsys.readouterr()
    assert [p["activation"] for p in json.loads(out)] == [6.0, 6.0, 6.0]
    assert "'activation' is the max" in err
    assert main(["patches", str(run.path), "--channel", "0", "--out", str(tmp_path / "r"), "--measure", "median"]) == 2
    assert "--measure: must be auto, max or mean (got 'median')" in capsys.readouterr().err


def test_activation_cap_finds_a_clip_and_nothing_else():
    """Against synthetic maxima: a ReLU6-like clip is found; continuous values, a dead layer and float16
    underflow (what random-weight mobilenet_v3 gives) are not caps."""
    from types import SimpleNamespace

    from explorer.core.analysis.measures import activation_cap

    rng = np.random.default_rng(0)

    def run_of(values):
        values = np.asarray(values, np.float16)
        return SimpleNamespace(channel_max=values, done_mask=np.ones(len(values), bool))

    raw = rng.gamma(2.0, 2.0, (50, 300))
    assert activation_cap(run_of(np.minimum(raw, 6.0))) == 6.0
    assert activation_cap(run_of(np.minimum(raw, 1.0))) == 1.0  # hardtanh / hardsigmoid
    assert activation_cap(run_of(raw)) is None
    assert activation_cap(run_of(np.zeros((50, 300)))) is None
    assert activation_cap(run_of(rng.choice([0.0, 5.96e-8], (50, 300)))) is None
