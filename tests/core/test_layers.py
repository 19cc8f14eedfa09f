"""Layers and receptive fields, checked against an independent measurement.

The measurement: make a linearised copy of the network (average instead of max
pooling, positive averaging weights, zero biases, identity batch norms, and a small
positive input so every ReLU/ReLU6 passes its input through) so nothing cancels,
and take the input-gradient of one unit with torchvision's own feature extractor.
Its non-zero extent is exactly the unit's receptive field, clipped to the image.
"""

import copy

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

from explorer.core.model.layers import list_layers, make_extractor


def build(name):
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None, **kwargs).eval()


def linearised(model):
    m = copy.deepcopy(model).double().eval()

    def swap(parent):
        for name, child in parent.named_children():
            if isinstance(child, nn.MaxPool2d):
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding,
                                                   ceil_mode=child.ceil_mode))
            else:
                swap(child)

    swap(m)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Conv2d):
                mod.weight.fill_(1.0 / mod.weight[0].numel())
                if mod.bias is not None:
                    mod.bias.zero_()
            elif isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.zero_(), mod.running_var.fill_(1.0), mod.weight.fill_(1.0), mod.bias.zero_()
    return m


def measured_boxes(model, layer, units, size):
    """[left, top, right, bottom) of the pixels that influence each unit (y, x) of `layer`."""
    extractor = create_feature_extractor(linearised(model), return_nodes={layer: "out"})
    image = torch.full((1, 3, size, size), 1e-3, dtype=torch.float64, requires_grad=True)
    out = extractor(image)["out"]
    boxes = []
    for y, x in units:
        (grad,) = torch.autograd.grad(out[0, :, y, x].sum(), image, retain_graph=True)
        support = grad[0].abs().sum(0) > 0
        rows = torch.nonzero(support.any(1)).flatten()
        cols = torch.nonzero(support.any(0)).flatten()
        boxes.append((int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1))
    return boxes


CASES = {
    "alexnet": ["features.0", "features.2", "features.5", "features.12"],
    "vgg16": ["features.2", "features.4", "features.16", "features.23"],
    "resnet18": ["maxpool", "layer1.0.add", "layer2.0.relu_1", "layer3.1.add", "layer4.0.relu_1"],
    "googlenet": ["maxpool1", "inception3a.cat", "maxpool3", "inception4c.cat", "inception5b.cat"],
    "mobilenet_v2": ["features.1.conv.1", "features.3.add", "features.6.add", "features.13.add", "features.18"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_receptive_fields_match_gradient_measurement(name):
    size = 128 if name == "vgg16" else 224  # VGG in float64 is slow; 128 px still clips only deep units
    model = build(name)
    graph = list_layers(model, size)
    for layer in CASES[name]:
        info = graph[layer]
        _, h, w = info.shape
        units = [(h // 2, w // 2), (0, 0), (h - 1, w - 1), (h // 3, (2 * w) // 3)]
        expected = [info.unit_box(y, x, size) for y, x in units]
        assert expected == measured_boxes(model, layer, units, size), layer


def test_vgg16_textbook_receptive_fields():
    graph = list_layers(build("vgg16"), 224)
    assert [graph[n].receptive_field for n in ("features.0", "features.2", "features.30")] == [3, 5, 212]
    assert [graph[n].stride for n in ("features.0", "features.2", "features.30")] == [1, 1, 32]
    # an interior unit whose field fits the image: the size itself is measured, not just clipped
    model = build("vgg16")
    info = graph["features.9"]  # pool2: 16 px field
    [(left, top, right, bottom)] = measured_boxes(model, "features.9", [(20, 20)], 224)
    assert right - left == info.receptive_field == 16 and bottom - top == 16


def test_shapes_match_real_outputs_and_pooled_layers_have_no_field():
    model = build("resnet18")
    graph = list_layers(model, 160)
    for layer in ("conv1", "layer2.1.add", "avgpool", "fc"):
        out = graph.extractor([layer])(torch.zeros(2, 3, 160, 160))[layer]
        assert tuple(out.shape[1:]) == graph[layer].shape
    assert graph["avgpool"].receptive_field is None and graph["fc"].receptive_field is None
    assert graph["fc"].shape == (1000,)
    assert graph.default == "layer4.1.relu_1"


def test_default_layers_are_last_spatial_maps():
    expected = {"alexnet": "avgpool", "vgg16": "avgpool", "googlenet": "inception5b.cat",
                "mobilenet_v2": "features.18"}
    for name, layer in expected.items():
        assert list_layers(build(name), 224).default == layer


def test_timm_model_layers_and_bundled_model():
    import timm

    from explorer.core.model.zoo import load_model

    graph = list_layers(timm.create_model("resnet10t", pretrained=False), 128)
    assert graph.traced and graph.default.startswith("layer4")
    eff = load_model("efficientnet_lite0")
    g = list_layers(eff.module, 224)
    assert g.default == "bn2" and g["bn2"].shape == (1280, 7, 7)
    assert g["conv_stem"].receptive_field == 3 and g["conv_stem"].stride == 2


def test_untraceable_model_falls_back_to_hooks():
    class Dynamic(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            x = self.conv(x)
            if x.sum() > 0:  # data-dependent control flow: fx cannot trace this
                x = x * 2
            return self.head(x.mean((2, 3)))

    model = Dynamic().eval()
    graph = list_layers(model, 32)
    assert not graph.traced
    assert graph["conv"].shape == (4, 30, 30) and graph["head"].shape == (2,)
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(make_extractor(model, "conv", graph)(x), model.conv(x))


@pytest.mark.parametrize("name,layers", [
    ("resnet18", ["layer2.1.add", "layer1.0.bn1", "layer3.0.conv2", "fc"]),
    ("mobilenet_v2", ["features.5", "features.18"]),
    ("efficientnet_lite0", ["bn2", "blocks.2.0.bn1", "blocks.1.0.conv_pw"]),
])
def test_folding_batch_norms_keeps_layer_values_and_the_model(name, layers):
    """Extractors fold BN into convs for speed: same values, and the model is untouched."""
    from explorer.core.model.graph import _tracer_kwargs
    from explorer.core.model.zoo import load_model

    model = load_model(name, "random").module.eval()
    with torch.no_grad():  # give the batch norms non-trivial statistics
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 96, 96)
    graph = list_layers(model, 96)
    for i, layer in enumerate(layers):
        reference = create_feature_extractor(model, {layer: "o"}, tracer_kwargs=_tracer_kwargs())(x)["o"]
        # the graph's extractor, and once the one-layer wrapper kept for older callers
        ours = graph.extractor([layer])(x)[layer] if i else make_extractor(model, layer, graph)(x)
        torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4 * reference.abs().max().item())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("name,block,output", [
    ("resnet18", "layer3", "layer3.1.relu_1"),
    ("googlenet", "inception4e", "inception4e.cat"),
])
def test_block_names_select_the_block_output_as_torchvision_does(name, block, output):
    """Issue 10: `--layer layer3` means what create_feature_extractor(model, {"layer3": ...}) returns."""
    model = build(name)
    graph = list_layers(model, 128)
    assert graph.resolve(block) == output and graph[block].name == output
    assert graph.blocks[block] == output
    x = torch.randn(2, 3, 128, 128)
    reference = create_feature_extractor(model, {block: "o"})(x)["o"]
    ours = graph.extractor([graph.resolve(block)])(x)[output]
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4 * reference.abs().max().item())


def test_block_names_of_the_bundled_model_and_unknown_names():
    from explorer.core.errors import ExplorerError
    from explorer.core.model.graph import _tracer_kwargs
    from explorer.core.model.layers import resolve_layer
    from explorer.core.model.zoo import load_model

    model = load_model("efficientnet_lite0").module.eval()
    graph = list_layers(model, 96)
    x = torch.randn(1, 3, 96, 96)
    reference = create_feature_extractor(model, {"blocks.5": "o"}, tracer_kwargs=_tracer_kwargs())(x)["o"]
    assert graph.resolve("blocks.5") == "blocks.5.3.add"
    torch.testing.assert_close(graph.extractor(["blocks.5.3.add"])(x)["blocks.5.3.add"], reference,
                               rtol=1e-4, atol=1e-4 * reference.abs().max().item())
    assert graph.resolve(" bn2 ") == "bn2"  # a layer is itself, never a block
    with pytest.raises(ExplorerError, match="No layer or block named 'blocks.55'; did you mean"):
        graph.resolve("blocks.55")
    assert resolve_layer(["a.b", "a.c", "ab"], "a") == "a.c" and resolve_layer(["a.b", "ab"], "ab") == "ab"


def test_identity_nodes_are_marked_passthrough():
    from explorer.core.model.zoo import load_model

    eff = list_layers(load_model("efficientnet_lite0").module, 96)
    flagged = {l.name for l in eff.layers if l.passthrough}
    assert {"blocks.5.2.aa", "blocks.5.2.drop_path", "blocks.6.0.se"} <= flagged
    assert not flagged & {"bn2", "conv_head", "blocks.5.2.bn2", "blocks.5.2.add", eff.default}
    assert all(n.endswith((".aa", ".se", ".drop_path")) for n in flagged), flagged
    vgg = list_layers(build("vgg16"), 64)
    assert {l.name for l in vgg.layers if l.passthrough} == {"classifier.2", "classifier.5"}  # dropout
