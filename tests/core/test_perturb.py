"""Perturbations (issue 13): each transform against an independent implementation, the adversarial
attacks against their one-line definitions, the sweep's numbers against the plain model, and the
variants' map positions."""

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as nnf

from explorer.core.analysis.perturb import (KINDS, add_noise, network_input, parse_values, perturb_image,
                                            to_unit_tensor)
from explorer.core.errors import ExplorerError
from explorer.core.progress import run_to_end


@pytest.fixture(scope="module")
def img():
    rng = np.random.default_rng(0)
    return Image.fromarray((rng.random((32, 40, 3)) * 255).astype(np.uint8))


@pytest.fixture(scope="module")
def model():
    from explorer.core.model.zoo import load_model

    return load_model("resnet18", "random", image_size=64)


@pytest.fixture(scope="module")
def prober(model):
    from explorer.core.analysis.invariance import Prober

    return Prober(model)


@pytest.fixture(scope="module")
def photo_img():
    from tests.conftest import photo

    im = photo("chelsea")
    im.thumbnail((96, 96))
    return im


def _a(im):
    return np.asarray(im, dtype=np.float64)


# --- values -----------------------------------------------------------------------------------

def test_values_start_stop_step_include_stop_and_defaults_parse():
    assert parse_values("0:1:0.25", "noise") == [0, 0.25, 0.5, 0.75, 1.0]
    assert parse_values("-90:90:15", "rotate") == [float(v) for v in range(-90, 91, 15)]
    assert parse_values("30:10:-10", "jpeg") == [30, 20, 10]
    assert parse_values("3,1,2", "blur") == [3.0, 1.0, 2.0]
    for kind in KINDS:
        assert parse_values(None, kind)


@pytest.mark.parametrize("text,kind", [("0:1", "noise"), ("0:1:0", "noise"), ("1:0:0.5", "noise"),
                                       ("a:b:c", "rotate"), ("0:101:10", "jpeg"), ("0:1e6:1", "rotate"),
                                       ("-1", "blur")])
def test_bad_values_are_one_line_errors(text, kind):
    with pytest.raises(ExplorerError) as e:
        parse_values(text, kind)
    assert text in str(e.value) and "\n" not in str(e.value)


def test_unknown_kind_is_an_error():
    with pytest.raises(ExplorerError, match="choose one of"):
        parse_values("0:1:1", "wobble")


# --- the transforms against independent implementations ------------------------------------------

def test_translate_is_an_exact_shift_with_black_fill(img):
    a = np.asarray(img)
    right = np.zeros_like(a)
    right[:, 5:] = a[:, :-5]
    up = np.zeros_like(a)
    up[:-3] = a[3:]
    assert np.array_equal(np.asarray(perturb_image(img, "translate", 5)), right)
    assert np.array_equal(np.asarray(perturb_image(img, "translate-y", -3)), up)


def test_rotate_is_pils_bilinear_rotation(img):
    expected = img.rotate(30, resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))
    assert np.array_equal(np.asarray(perturb_image(img, "rotate", 30)), np.asarray(expected))


@pytest.mark.parametrize("zoom", [0.7, 1.3])
def test_scale_matches_torchvisions_tensor_affine(img, zoom):
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    x = F.pil_to_tensor(img).float()  # the tensor path: grid_sample, another implementation than PIL's
    expected = F.affine(x, angle=0.0, translate=[0, 0], scale=zoom, shear=[0.0, 0.0],
                        interpolation=InterpolationMode.BILINEAR, fill=0).permute(1, 2, 0).numpy()
    diff = np.abs(_a(perturb_image(img, "scale", zoom)) - expected)
    assert diff.max() <= 2 and diff.mean() < 1


def test_brightness_contrast_gamma_match_their_formulas(img):
    a = _a(img)
    assert np.abs(_a(perturb_image(img, "brightness", 1.5)) - np.clip(a * 1.5, 0, 255)).max() <= 1
    grey = np.asarray(img.convert("L"), np.float64).mean()  # torchvision/PIL: blend with the grey mean
    expected = np.clip(grey + 0.5 * (a - grey), 0, 255)
    assert np.abs(_a(perturb_image(img, "contrast", 0.5)) - expected).max() <= 1.01
    assert np.abs(_a(perturb_image(img, "gamma", 2.0)) - 255 * (a / 255) ** 2).max() <= 1


@pytest.mark.parametrize("sigma", [1.0, 1.5])
def test_blur_is_scipys_gaussian_with_the_same_sigma(img, sigma):
    from scipy import ndimage

    a = np.asarray(img, np.float64)
    expected = np.stack([ndimage.gaussian_filter(a[..., c], sigma, mode="mirror", truncate=3.0) for c in range(3)], -1)
    assert np.abs(_a(perturb_image(img, "blur", sigma)) - expected).max() <= 1
    assert np.array_equal(np.asarray(perturb_image(img, "blur", 0)), np.asarray(img))


def test_jpeg_is_pillows_encoder_at_that_quality(img):
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=20)
    expected = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    assert np.array_equal(np.asarray(perturb_image(img, "jpeg", 20)), expected)


def test_occluder_is_a_square_of_the_given_colour_at_the_position(img):
    out = np.asarray(perturb_image(img, "occlude", 8, at=(0.25, 0.5), fill_colour=(1, 2, 3)))
    a = np.asarray(img)
    cx, cy = 10, 16  # 0.25 * 40, 0.5 * 32
    inside = np.zeros(a.shape[:2], bool)
    inside[cy - 4:cy + 4, cx - 4:cx + 4] = True
    assert (out[inside] == (1, 2, 3)).all()
    assert np.array_equal(out[~inside], a[~inside])


def test_noise_is_seeded_reproducible_and_as_defined(img):
    one = np.asarray(perturb_image(img, "noise", 0.1, seed=3))
    assert np.array_equal(one, np.asarray(perturb_image(img, "noise", 0.1, seed=3)))
    assert not np.array_equal(one, np.asarray(perturb_image(img, "noise", 0.1, seed=4)))
    g = torch.Generator().manual_seed(3)
    x = torch.from_numpy(np.asarray(img, np.float32) / 255).permute(2, 0, 1)
    expected = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1).permute(1, 2, 0).numpy() * 255
    assert np.abs(one - expected).max() <= 0.5 + 1e-3
    assert torch.equal(add_noise(to_unit_tensor(img), 0, 1), to_unit_tensor(img))


def test_network_input_is_what_preprocess_feeds_the_model(model, photo_img):
    from torchvision.transforms import functional as F

    pre = model.preprocess
    x = F.normalize(to_unit_tensor(network_input(pre, photo_img)), pre.mean, pre.std)
    assert torch.allclose(x, pre(photo_img), atol=1e-6)


# --- adversarial ------------------------------------------------------------------------------------

def _by_hand_gradient(model, x, cls):
    """The plain torchvision module on normalised pixels: no cut, no graph."""
    from torchvision.transforms import functional as F

    x = x.clone().requires_grad_(True)
    logits = model.module(F.normalize(x, model.preprocess.mean, model.preprocess.std))
    loss = nnf.cross_entropy(logits, torch.tensor([cls] * len(x)))
    return torch.autograd.grad(loss, x)[0]


def test_fgsm_is_x_plus_eps_sign_gradient_clipped(model, prober, photo_img):
    from explorer.core.analysis.adversarial import fgsm

    x = to_unit_tensor(network_input(model.preprocess, photo_img))[None]
    with torch.no_grad():
        cls = int(model.module(torch.stack([model.preprocess(photo_img)])).argmax())
    eps = 4 / 255
    expected = (x + eps * _by_hand_gradient(model, x, cls).sign()).clamp(0, 1)
    got = fgsm(prober.gradient_model, x, torch.tensor([cls]), model.preprocess, 4)
    assert (got == expected).float().mean() > 0.999  # a sign may flip where the gradient is ~0
    # a sweep: one gradient for every epsilon, each row its own x + eps * sign(gradient)
    from explorer.core.analysis.invariance import sweep

    swept = run_to_end(sweep(model, photo_img, "fgsm", "2,4", prober=prober))
    for value, p in zip((2, 4), swept.perturbations):
        by_hand = ((x + value / 255 * _by_hand_gradient(model, x, cls).sign()).clamp(0, 1) - x)[0].permute(1, 2, 0)
        assert np.isclose(p, by_hand.numpy(), atol=1e-6).mean() > 0.999
    targeted = fgsm(prober.gradient_model, x, torch.tensor([7]), model.preprocess, 4, targeted=True)
    expected_t = (x - eps * _by_hand_gradient(model, x, 7).sign()).clamp(0, 1)
    assert (targeted == expected_t).float().mean() > 0.999


def test_pgd_stays_within_eps_and_the_valid_range_and_moves_away(model, prober, photo_img):
    from explorer.core.analysis.invariance import softmax

    x = to_unit_tensor(network_input(model.preprocess, photo_img))[None].repeat(2, 1, 1, 1)
    f0, l0 = prober.embed(x[:1])
    cls = int(l0[0].argmax())
    from explorer.core.analysis.adversarial import pgd

    adv = pgd(prober.gradient_model, x, torch.tensor([cls, cls]), model.preprocess, [2, 6], steps=3, seed=1)
    assert (adv - x)[0].abs().max() <= 2 / 255 + 1e-6 and (adv - x)[1].abs().max() <= 6 / 255 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    assert (adv - x)[1].abs().max() > 5 / 255  # it uses the ball
    _, l1 = prober.embed(adv)
    assert softmax(l1)[1, cls] < softmax(l0)[0, cls]
    again = pgd(prober.gradient_model, x, torch.tensor([cls, cls]), model.preprocess, [2, 6], steps=3, seed=1)
    assert torch.equal(adv, again)


# --- the sweep's report and the map -----------------------------------------------------------------------

def test_sweep_reports_the_plain_models_numbers(model, prober, photo_img):
    from torchvision.transforms import functional as F

    from explorer.core.analysis.invariance import sweep

    s = run_to_end(sweep(model, photo_img, "rotate", "0:90:45", prober=prober))
    assert s.values == [0.0, 45.0, 90.0] and len(s.images) == 3
    pre = model.preprocess
    with torch.no_grad():
        clean = model.module(pre(photo_img)[None])[0].softmax(0)
        cls = int(clean.argmax())
        for v, im in zip(s.variants, s.images):
            p = model.module(F.normalize(to_unit_tensor(im), pre.mean, pre.std)[None])[0].softmax(0)
            assert v.top1 == int(p.argmax())
            assert v.top1_probability == pytest.approx(float(p.max()), abs=1e-4)
            assert v.original_class_probability == pytest.approx(float(p[cls]), abs=1e-4)
    assert s.variants[0].cosine_to_original == pytest.approx(1.0, abs=1e-6)  # 0 degrees: the image itself
    assert s.original.top1 == cls and s.original.value is None
    assert -1 <= s.variants[2].cosine_to_original < 1


def test_sweep_features_are_the_spatial_mean_of_torchvisions_extractor(model, prober, photo_img):
    from torchvision.models.feature_extraction import create_feature_extractor

    from explorer.core.analysis.invariance import sweep

    s = run_to_end(sweep(model, photo_img, "brightness", "1.5", prober=prober))
    ext = create_feature_extractor(model.module, [s.layer])
    with torch.no_grad():
        out = ext(model.preprocess(photo_img)[None])[s.layer][0]
    assert np.allclose(s.original_features, out.mean((1, 2)).numpy(), atol=1e-4)


def test_adversarial_sweep_keeps_the_perturbation_and_the_target(model, prober, photo_img):
    from explorer.core.analysis.invariance import sweep

    s = run_to_end(sweep(model, photo_img, "fgsm", "0:8:8", target=3, prober=prober))
    assert s.target == 3 and len(s.perturbations) == 2
    assert np.abs(s.perturbations[0]).max() == 0
    assert np.abs(s.perturbations[1]).max() <= 8 / 255 + 1e-6 and np.abs(s.perturbations[1]).max() > 7 / 255
    with pytest.raises(ExplorerError, match="fgsm and pgd"):
        run_to_end(sweep(model, photo_img, "rotate", "0", target=3, prober=prober))


@pytest.mark.parametrize("method", ["pca", pytest.param("tsne", marks=pytest.mark.slow)])
def test_a_training_images_variant_lands_near_that_point(model, prober, photo_img, method):
    from explorer.core.analysis.invariance import place_on_map, sweep
    from explorer.core.analysis.projection import make_projection

    s = run_to_end(sweep(model, photo_img, "noise", "0:0.02:0.01", prober=prober, seed=0))
    rng = np.random.default_rng(1)
    others = [Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)) for _ in range(30)]
    from explorer.core.analysis.perturb import to_unit_tensor as tt

    feats, _ = prober.embed(torch.stack([tt(network_input(model.preprocess, o)) for o in others]))
    training = np.vstack([s.original_features[None], feats])
    proj = make_projection(method, perplexity=5).fit(training)
    path = place_on_map(proj, s)
    assert path.shape == (4, 2)
    spread = np.ptp(proj.embedding_, axis=0).max()
    for point in path[:2]:  # the clean image and sigma 0 are the training point itself
        assert np.linalg.norm(point - proj.embedding_[0]) < (1e-4 if method == "pca" else 0.1) * spread


def test_the_session_holds_the_path_until_the_map_or_the_run_changes():
    from explorer.core.analysis.invariance import MapPath
    from explorer.core.session import Session

    session = Session()
    seen = []
    session.events.variant_path.connect(lambda new, old: seen.append(new))
    path = MapPath(3, "rotate", np.zeros((3, 2), np.float32), ("original", "0", "45"))
    session.variant_path = path
    assert seen == [path] and session.variant_path is path
    session.set_layout(np.zeros((5, 2)), "pca")
    assert session.variant_path is None and seen[-1] is None


def test_several_layers_at_once_match_one_layer_at_a_time(model, photo_img):
    from explorer.core.analysis.invariance import sweep

    both = run_to_end(sweep(model, photo_img, "blur", "0,2", layer="layer4", also=("layer2", "layer4")))
    alone = run_to_end(sweep(model, photo_img, "blur", "0,2", layer="layer2"))
    main = both.layer
    assert set(both.variants[1].cosine_by_layer) == {main, "layer2.1.relu_1"}
    assert both.variants[1].cosine_by_layer["layer2.1.relu_1"] == pytest.approx(alone.variants[1].cosine_to_original,
                                                                                abs=1e-5)
    assert both.variants[1].cosine_by_layer[main] == both.variants[1].cosine_to_original
    assert "cosine_by_layer" in both.variants[1].to_dict() and "cosine_by_layer" not in alone.variants[1].to_dict()
