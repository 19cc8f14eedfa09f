"""Preprocessing equals torchvision's presets, and boxes map back onto the original."""

import numpy as np
import torch
import torchvision
from PIL import Image

from explorer.core.model.zoo import load_model
from explorer.core.data.preprocess import Preprocess


def test_matches_torchvision_weights_transforms():
    from tests.conftest import photo

    img = photo("coffee")
    for name in ("resnet18", "googlenet"):
        ours = load_model(name, "random").preprocess(img)
        theirs = torchvision.models.get_model_weights(name).DEFAULT.transforms()(img)
        # identical pixels up to one grey level of rounding, in a handful of places
        one_level = 1 / 255 / 0.224 + 1e-5
        torch.testing.assert_close(ours, theirs, rtol=0, atol=one_level)
        assert (ours - theirs).abs().mean() < 1e-3 * one_level


def test_box_in_input_maps_back_onto_the_original():
    pre = Preprocess(resize=64, crop=56)
    rng = np.random.default_rng(0)
    for w, h in ((300, 200), (200, 300), (97, 97), (640, 100)):
        m = max(2, min(w, h) // 12)  # marker side
        marker = (int(rng.integers(w / 2 - 2 * m, w / 2 + m)), int(rng.integers(h / 2 - 2 * m, h / 2 + m)))
        a = np.zeros((h, w, 3), np.uint8)
        a[marker[1]:marker[1] + m, marker[0]:marker[0] + m] = 255
        x = pre(Image.fromarray(a))[0].numpy()
        ys, xs = np.nonzero(x > x.min() + 0.5 * (x.max() - x.min()))
        box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        left, top, right, bottom = pre.input_to_original(box, (w, h))
        # the box found in the network's input lands on the marker in the original, to a pixel of the input
        px = min(w, h) / 64
        assert abs(left - marker[0]) <= px + 1 and abs(right - marker[0] - m) <= px + 1, (w, h, box)
        assert abs(top - marker[1]) <= px + 1 and abs(bottom - marker[1] - m) <= px + 1, (w, h, box)
    assert pre.input_to_original((0, 0, 56, 56), (300, 200)) == (62, 12, 238, 188)  # 96x64 resized, crop offset (20, 4), scale 0.32


def test_extreme_strips_and_tiny_images():
    pre = Preprocess(resize=256, crop=224)
    a = np.zeros((4, 3000, 3), np.uint8)
    a[:, 1495:1505] = 255  # a white bar in the middle of a 3000x4 strip
    x = pre(Image.fromarray(a))
    assert x.shape == (3, 224, 224) and x[0].max() > 1.0  # the bar is in the crop
    assert pre(Image.new("RGB", (1, 1), (255, 0, 0))).shape == (3, 224, 224)


def test_image_size_override_keeps_ratio():
    pre = Preprocess(resize=256, crop=224).with_image_size(112)
    assert (pre.resize, pre.crop) == (128, 112)
