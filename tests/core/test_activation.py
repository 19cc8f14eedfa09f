"""One image's activation map: the layer's values, and where the heat map lands on the photo.

Checked against independent computations: torchvision's own feature extractor and forward
hooks for the values; for the geometry, torchvision's Resize + CenterCrop applied to an
image whose pixels encode their own coordinates (what the network really sees).
"""

import copy
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models.feature_extraction import create_feature_extractor

from explorer.core.analysis.activation import layer_output, overlay
from explorer.core.data.preprocess import Preprocess
from explorer.core.model.graph import model_graph
from explorer.core.model.layers import make_extractor
from explorer.core.model.zoo import load_model


def random_photo(w, h, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def resnet():
    return load_model("resnet18", "random", image_size=64)


def test_layer_output_matches_torchvision_and_forward_hooks(resnet):
    image = random_photo(150, 100)
    x = resnet.preprocess(image)[None]
    model = copy.deepcopy(resnet.module)  # the references run on a private copy
    graph = model_graph(resnet)
    ext = graph.extractor(["layer2.0.add", "layer3.1.relu_1", "fc"])
    with torch.no_grad():
        tv = create_feature_extractor(copy.deepcopy(model), {"layer2.0.add": "a"})(x)["a"][0].numpy()
        hooked = {}
        model.layer3.register_forward_hook(lambda _m, _i, out: hooked.update(layer3=out[0].numpy().copy()))
        logits = model(x)[0].numpy()

    add = layer_output(ext, resnet.preprocess, image, "layer2.0.add")
    assert add.shape == graph["layer2.0.add"].shape == tv.shape and add.dtype == np.float32
    np.testing.assert_allclose(add, tv, rtol=1e-4, atol=1e-4 * np.abs(tv).max())
    l3 = layer_output(ext, resnet.preprocess, image, "layer3.1.relu_1")
    np.testing.assert_allclose(l3, hooked["layer3"], rtol=1e-4, atol=1e-4 * np.abs(hooked["layer3"]).max())
    fc = layer_output(ext, resnet.preprocess, image, "fc")
    assert fc.shape == (1000,)
    np.testing.assert_allclose(fc, logits, rtol=1e-4, atol=1e-4 * np.abs(logits).max())
    # an extractor of one tensor (the older interface) gives the same map; channel c is out[c]
    single = layer_output(make_extractor(resnet.module, "layer3.1.relu_1", graph), resnet.preprocess, image)
    np.testing.assert_allclose(single, l3, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="say which layer"):
        layer_output(ext, resnet.preprocess, image)


def seen_extent(pre: Preprocess, w: int, h: int) -> tuple[float, float, float, float]:
    """[left, top, right, bottom) of the photo that torchvision's Resize + CenterCrop keeps:
    resize an image holding each pixel's own x and y (nearest neighbour) and read them back."""
    from torchvision.transforms import CenterCrop, InterpolationMode, Resize

    ys, xs = np.mgrid[0:h, 0:w]
    coded = Image.fromarray(np.stack([xs, ys, np.zeros_like(xs)], -1).astype(np.uint8))
    seen = np.asarray(CenterCrop(pre.crop)(Resize(pre.resize, InterpolationMode.NEAREST)(coded)))
    return seen[..., 0].min(), seen[..., 1].min(), seen[..., 0].max() + 1, seen[..., 1].max() + 1


def heat_region(out: Image.Image, dimmed: Image.Image) -> tuple[int, int, int, int]:
    """Bounding box of the pixels that are not simply the dimmed photo."""
    diff = np.abs(np.asarray(out, np.int16) - np.asarray(dimmed, np.int16)).max(-1) > 2
    rows, cols = np.flatnonzero(diff.any(1)), np.flatnonzero(diff.any(0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


@pytest.mark.parametrize("size", [(240, 160), (150, 230), (200, 200), (250, 90)])
def test_overlay_covers_exactly_the_centre_crop_and_keeps_the_aspect_ratio(size):
    w, h = size
    pre = Preprocess(resize=73, crop=64)
    image = Image.new("RGB", (w, h), (200, 200, 200))
    channel_map = np.random.default_rng(1).random((8, 8)).astype(np.float32)
    out = overlay(image, channel_map, pre)
    assert out.size == image.size  # same pixels, so the same aspect ratio as the photo

    dimmed = Image.new("RGB", (w, h), (100, 100, 100))  # what was cropped away: the photo at half
    outside = np.asarray(out, np.int16)
    box = heat_region(out, dimmed)
    assert box == pre.input_to_original((0, 0, pre.crop, pre.crop), (w, h))
    # Independent checks, to one resized pixel (torchvision rounds the resized size and the crop
    # offset to whole resized pixels): the crop is crop/resize of the shorter side, centred...
    step = math.ceil(min(w, h) / pre.resize)
    side = pre.crop * min(w, h) / pre.resize
    expected = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    assert all(abs(a - b) <= step for a, b in zip(box, expected)), (box, expected)
    # ...and it holds what torchvision's pipeline feeds the network, and little else
    seen = seen_extent(pre, w, h)
    assert box[0] <= seen[0] and box[1] <= seen[1] and box[2] >= seen[2] and box[3] >= seen[3], (box, seen)
    assert all(abs(int(a) - int(b)) <= step for a, b in zip(box, seen)), (box, seen)
    mask = np.zeros((h, w), bool)
    mask[box[1]:box[3], box[0]:box[2]] = True
    assert (np.abs(outside[~mask] - 100) <= 1).all()  # everything outside is only dimmed


def test_the_hottest_overlay_pixel_is_on_the_hottest_unit():
    w, h = 240, 160
    pre = Preprocess(resize=73, crop=64)
    image = Image.new("RGB", (w, h), (0, 0, 0))  # black: the overlay shows the heat colours alone
    left, top, right, bottom = pre.input_to_original((0, 0, pre.crop, pre.crop), (w, h))
    for y, x in [(2, 5), (0, 0), (6, 3)]:
        channel_map = np.zeros((7, 7), np.float32)
        channel_map[y, x] = 3.0
        channel_map[(y + 3) % 7, (x + 2) % 7] = 1.0  # a weaker unit elsewhere
        green = np.asarray(overlay(image, channel_map, pre))[..., 1]  # rises monotonically along the ramp
        py, px = np.unravel_index(np.argmax(green), green.shape)
        cw, ch = (right - left) / 7, (bottom - top) / 7
        assert left + x * cw <= px < left + (x + 1) * cw and top + y * ch <= py < top + (y + 1) * ch, \
            ((py, px), (y, x))
