"""Attribution maps against independent computations: hand-written autograd of each definition,
captum's reference implementations, brute-force occlusion, and properties of the definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from explorer.core.analysis.attribution import Explainer, Options, explain, faithfulness, rank_correlation, \
    resolve_target, sanity_check, top_k
from explorer.core.analysis.attribution.methods import cam_grid, grad_cam_grid, window_starts
from explorer.core.data.preprocess import Preprocess
from explorer.core.errors import ExplorerError
from explorer.core.model.zoo import LoadedModel
from explorer.core.progress import run_to_end

SIZE = 32
NAMES = [f"thing{i}" for i in range(9)] + ["tabby", "tabby cat"][:1]


class Tiny(nn.Module):
    """conv-ReLU-conv-ReLU6-conv-SiLU, global average pool, one linear layer."""

    def __init__(self, act3=nn.SiLU, head: str = "gap"):
        super().__init__()
        self.conv1, self.act1 = nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()
        self.conv2, self.act2 = nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.ReLU6()
        self.conv3, self.act3 = nn.Conv2d(12, 16, 3, stride=2, padding=1), act3()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16, 10) if head == "gap" else nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 10))

    def forward(self, x):
        x = self.act1(self.conv1(x))
        x = self.act2(self.conv2(x) * 3)  # *3: some units reach ReLU6's cap
        x = self.act3(self.conv3(x))
        return self.fc(self.flatten(self.pool(x)))


def tiny_model(seed=0, **kw) -> LoadedModel:
    torch.manual_seed(seed)
    return LoadedModel("tiny", Tiny(**kw).eval(), Preprocess(SIZE, SIZE), f"random:{seed}", list(NAMES))


@pytest.fixture(scope="module")
def tiny():
    return tiny_model()


@pytest.fixture(scope="module")
def x():
    torch.manual_seed(1)
    return torch.randn(1, 3, SIZE, SIZE)


def attribute(loaded, x, method, **kw):
    return run_to_end(explain(Explainer(loaded), x, method, Options(**kw)))


def logit_grad(module, x, target):
    xi = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(module(xi)[0, target], xi)
    return g[0].numpy()


def activations_and_grads(module, x, layer_module, target):
    """A layer's output and d logit / d output, with plain forward hooks on the original model."""
    store = {}
    h = layer_module.register_forward_hook(lambda m, i, o: store.setdefault("a", o))
    try:
        out = module(x)
    finally:
        h.remove()
    (g,) = torch.autograd.grad(out[0, target], store["a"])
    return store["a"][0].detach().double().numpy(), g[0].double().numpy()


# --- targets ---------------------------------------------------------------------------------------

def test_targets_by_rank_index_and_name():
    logits = np.array([0.1, 3.0, 2.0, -1.0, 5.0, 0, 0, 0, 0, 0.5])
    assert [p.index for p in top_k(logits, NAMES, 3)] == [4, 1, 2]
    p = np.exp(logits) / np.exp(logits).sum()
    assert top_k(logits, NAMES, 1)[0].probability == pytest.approx(p[4])
    assert resolve_target(None, logits, NAMES) == 4
    assert resolve_target("top2", logits, NAMES) == 1
    assert resolve_target("7", logits, NAMES) == 7
    assert resolve_target("Tabby", logits, NAMES) == 9
    with pytest.raises(ExplorerError, match="matches 9 classes"):
        resolve_target("thing", logits, NAMES)
    with pytest.raises(ExplorerError, match="0 to 9"):
        resolve_target(10, logits, NAMES)
    with pytest.raises(ExplorerError, match="no class names"):
        resolve_target("tabby", logits, None)


# --- gradients ---------------------------------------------------------------------------------------

def test_gradient_is_the_logits_input_gradient(tiny, x):
    a = attribute(tiny, x, "gradient", target=3)
    assert a.map.shape == (3, SIZE, SIZE) and a.target == 3 and a.target_name == "thing3"
    np.testing.assert_allclose(a.map, logit_grad(tiny.module, x, 3), rtol=1e-4, atol=1e-7)
    with torch.no_grad():
        assert a.score == pytest.approx(float(tiny.module(x)[0, 3]), rel=1e-5)


def manual_guided(module: Tiny, x, target):
    """Guided backprop by hand, layer by layer: at each activation dx = f'(x) * max(dy, 0)."""
    steps = []
    with torch.no_grad():
        z1 = module.conv1(x); a1 = torch.relu(z1)
        z2 = module.conv2(a1) * 3; a2 = torch.clamp(z2, 0, 6)
        z3 = module.conv3(a2); a3 = torch.nn.functional.silu(z3)
    pooled = a3.mean((2, 3))
    g_pooled = module.fc.weight[target][None].detach()  # d logit / d pooled
    g = g_pooled[:, :, None, None].expand_as(a3) / (a3.shape[2] * a3.shape[3])
    s = torch.sigmoid(z3)
    g = (s * (1 + z3 * (1 - s))) * g.clamp(min=0)  # SiLU's derivative
    g = vjp(lambda t: module.conv3(t), a2, g)
    g = ((z2 > 0) & (z2 < 6)).float() * g.clamp(min=0)
    g = vjp(lambda t: module.conv2(t) * 3, a1, g)
    g = (z1 > 0).float() * g.clamp(min=0)
    g = vjp(module.conv1, x, g)
    return g[0].numpy()


def vjp(f, inp, g):
    t = inp.detach().clone().requires_grad_(True)
    (out,) = torch.autograd.grad(f(t), t, g)
    return out


def test_guided_backprop_follows_the_definition_through_relu_relu6_and_silu(tiny, x):
    a = attribute(tiny, x, "guided-backprop", target=2)
    np.testing.assert_allclose(a.map, manual_guided(tiny.module, x, 2), rtol=1e-4, atol=1e-7)
    assert not np.allclose(a.map, logit_grad(tiny.module, x, 2))  # the rule changed something
    assert all(p.grad is None for p in tiny.module.parameters())  # the model itself is untouched
    assert type(tiny.module.act1) is nn.ReLU


@pytest.fixture(scope="module")
def resnet():
    import torchvision

    torch.manual_seed(0)
    module = torchvision.models.resnet18(num_classes=10).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2)
    return LoadedModel("resnet18", module, Preprocess(64, 64), "random:0", list(NAMES))


@pytest.fixture(scope="module")
def rx():
    torch.manual_seed(2)
    return torch.randn(1, 3, 64, 64)


def test_guided_backprop_matches_captum_on_resnet18(resnet, rx):
    from captum.attr import GuidedBackprop

    ours = attribute(resnet, rx, "guided-backprop", target=4).map
    theirs = GuidedBackprop(resnet.module).attribute(rx.clone(), target=4)[0].detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6 * np.abs(theirs).max())


def test_integrated_gradients_match_captum_and_are_complete(tiny, x):
    from captum.attr import IntegratedGradients

    ours = attribute(tiny, x, "integrated-gradients", target=5, steps=20, baseline="zero").map
    theirs = IntegratedGradients(tiny.module).attribute(x, baselines=torch.zeros_like(x), target=5, n_steps=20,
                                                        method="riemann_right")[0].detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    many = attribute(tiny, x, "integrated-gradients", target=5, steps=600).map
    with torch.no_grad():
        gap = float(tiny.module(x)[0, 5] - tiny.module(torch.zeros_like(x))[0, 5])
    assert many.sum() == pytest.approx(gap, rel=2e-2, abs=1e-4)  # completeness


# --- class activation maps ---------------------------------------------------------------------------

def test_grad_cam_matches_a_hand_computation_and_captum(resnet, rx):
    from captum.attr import LayerAttribution, LayerGradCam

    m = resnet.module
    e = Explainer(resnet)
    a, g = activations_and_grads(m, rx, m.layer4, 6)
    expected = np.maximum((g.mean((1, 2))[:, None, None] * a).sum(0), 0)
    grid = grad_cam_grid(e, rx, 6, "layer4").numpy()
    np.testing.assert_allclose(grid, expected, rtol=1e-5, atol=1e-9)
    layer = LayerGradCam(m, m.layer4).attribute(rx, target=6, relu_attributions=True)
    np.testing.assert_allclose(grid, layer[0, 0].detach().numpy(), rtol=1e-4, atol=1e-7)
    att = run_to_end(explain(e, rx, "gradcam", Options(layer="layer4", target=6)))
    up = LayerAttribution.interpolate(layer, (64, 64), interpolate_mode="bilinear")[0, 0].detach().numpy()
    assert att.map.shape == (64, 64) and att.layer == "layer4.1.relu_1"  # a block stands for its output
    np.testing.assert_allclose(att.map, up, rtol=1e-4, atol=1e-7 * up.max())


def test_guided_grad_cam_is_guided_backprop_times_upsampled_grad_cam(resnet, rx):
    e = Explainer(resnet)
    gg = run_to_end(explain(e, rx, "guided-gradcam", Options(layer="layer3", target=1))).map
    gb = run_to_end(explain(e, rx, "guided-backprop", Options(target=1))).map
    gc = run_to_end(explain(e, rx, "gradcam", Options(layer="layer3", target=1))).map
    assert gg.shape == (3, 64, 64)
    np.testing.assert_allclose(gg, gb * gc[None], rtol=1e-5, atol=1e-12)


def test_grad_cam_plus_plus_matches_the_formula(tiny, x):
    a, g = activations_and_grads(tiny.module, x, tiny.module.act2, 7)
    g2, g3 = g ** 2, g ** 3
    denom = 2 * g2 + a.sum((1, 2))[:, None, None] * g3
    coeff = np.where(g != 0, g2 / np.where(denom != 0, denom, 1), 0)
    weights = (coeff * np.maximum(g, 0)).sum((1, 2))
    expected = np.maximum((weights[:, None, None] * a).sum(0), 0)
    ours = grad_cam_grid(Explainer(tiny), x, 7, "act2", plus=True).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-12)


def test_cam_is_the_weighted_sum_and_equals_grad_cam_up_to_scale(tiny, x):
    e = Explainer(tiny)
    head = e.cam_head()
    assert (head.layer, head.linear) == ("act3", "fc")
    with torch.no_grad():
        a = tiny.module.act3(tiny.module.conv3(tiny.module.act2(tiny.module.conv2(tiny.module.act1(
            tiny.module.conv1(x))) * 3)))[0].double().numpy()
    w = tiny.module.fc.weight[4].detach().double().numpy()
    cam = cam_grid(e, x, 4, head).numpy()
    np.testing.assert_allclose(cam, np.einsum("k,khw->hw", w, a), rtol=1e-6, atol=1e-9)
    # alpha_k = w_k / (h w) for a GAP + linear head, so Grad-CAM = ReLU(CAM) / (h w)
    h, wd = cam.shape
    np.testing.assert_allclose(grad_cam_grid(e, x, 4, "act3").numpy(), np.maximum(cam, 0) / (h * wd),
                               rtol=1e-5, atol=1e-9)
    att = run_to_end(explain(e, x, "cam", Options(target=4)))
    assert att.layer == "act3" and att.map.shape == (SIZE, SIZE)


def test_cam_refuses_a_head_with_several_linear_layers_and_points_to_grad_cam(x):
    loaded = tiny_model(head="mlp")
    with pytest.raises(ExplorerError, match="classifier has 2 linear layers.*Grad-CAM"):
        attribute(loaded, x, "cam")
    assert attribute(loaded, x, "gradcam").map.shape == (SIZE, SIZE)


def test_cam_finds_the_head_of_torchvision_models(resnet):
    assert Explainer(resnet).cam_head().layer == "layer4.1.relu_1"


# --- occlusion ---------------------------------------------------------------------------------------

def brute_force_occlusion(module, x, target, window, stride):
    with torch.no_grad():
        p0 = torch.softmax(module(x), 1)[0, target].item()
        total = np.zeros((SIZE, SIZE))
        count = np.zeros((SIZE, SIZE))
        starts = list(range(0, SIZE - window + 1, stride))
        if starts[-1] != SIZE - window:
            starts.append(SIZE - window)
        for top in starts:
            for left in starts:
                xo = x.clone()
                xo[:, :, top:top + window, left:left + window] = 0
                drop = p0 - torch.softmax(module(xo), 1)[0, target].item()
                total[top:top + window, left:left + window] += drop
                count[top:top + window, left:left + window] += 1
    return total / count


@pytest.mark.parametrize("window,stride", [(8, 4), (7, 3)])
def test_occlusion_matches_a_brute_force_loop(tiny, x, window, stride):
    work = explain(Explainer(tiny), x, "occlusion", Options(target=1, window=window, stride=stride, batch=5))
    partials = []
    while True:
        try:
            step = next(work)
        except StopIteration as stop:
            att = stop.value
            break
        if step.partial is not None:
            partials.append(step.partial)
    np.testing.assert_allclose(att.map, brute_force_occlusion(tiny.module, x, 1, window, stride), atol=1e-6)
    assert len(partials) > 2 and np.isnan(partials[0]).any()  # partial maps stream in
    assert att.settings == {"window": window, "stride": stride, "baseline": "zero"}


def test_occlusion_matches_captum_when_windows_tile(tiny, x):
    from captum.attr import Occlusion

    ours = attribute(tiny, x, "occlusion", target=8, window=8, stride=8).map
    theirs = Occlusion(lambda t: torch.softmax(tiny.module(t), 1)).attribute(
        x, sliding_window_shapes=(3, 8, 8), strides=(3, 8, 8), baselines=0, target=8)[0, 0].numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_window_positions_cover_the_edge():
    assert window_starts(10, 4, 3) == [0, 3, 6]
    assert window_starts(11, 4, 3) == [0, 3, 6, 7]


# --- checks --------------------------------------------------------------------------------------------

def test_rank_correlation_is_spearmans_rho():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), rng.normal(size=200)
    b[:50] = a[:50]
    ra, rb = a.argsort().argsort().astype(float), b.argsort().argsort().astype(float)
    expected = np.corrcoef(ra, rb)[0, 1]
    assert rank_correlation(a, b) == pytest.approx(expected, rel=1e-9)
    assert rank_correlation(a, np.zeros(200)) == 0.0


def test_sanity_check_randomises_from_the_top_and_leaves_the_model_alone(tiny, x):
    e = Explainer(tiny)
    before = {k: v.clone() for k, v in tiny.module.state_dict().items()}
    original = run_to_end(explain(e, x, "gradcam", Options(target=0)))
    result = run_to_end(sanity_check(e, x, original, max_units=3))
    assert result.units == ["fc", "conv3", "conv2"]
    assert len(result.rank_corr) == 3 and all(-1 <= r <= 1 for r in result.rank_corr)
    for k, v in tiny.module.state_dict().items():
        assert torch.equal(v, before[k])
    shuffled = Explainer(tiny, randomised=["fc"])
    again = run_to_end(explain(shuffled, x, "gradcam", Options(target=0)))
    assert result.rank_corr[0] == pytest.approx(rank_correlation(original.heat(), again.heat()))
    cut = shuffled.cut(("act3",))
    assert not torch.equal(cut.graph_module.fc.weight, tiny.module.fc.weight)
    assert torch.equal(cut.graph_module.conv3.weight, tiny.module.conv3.weight)


def test_faithfulness_curves_match_a_loop(tiny, x):
    e = Explainer(tiny)
    att = run_to_end(explain(e, x, "gradcam", Options(target=2)))
    f = run_to_end(faithfulness(e, x, att, steps=8, batch=3))
    order = np.argsort(-att.heat().ravel(), kind="stable")
    from torchvision.transforms.functional import gaussian_blur

    sigma = SIZE / 22.4
    k = 2 * int(round(3 * sigma)) + 1
    blur = gaussian_blur(x, [k, k], [sigma, sigma])
    deletion, insertion = [], []
    with torch.no_grad():
        for frac in np.linspace(0, 1, 9):
            n = int(round(frac * SIZE * SIZE))
            mask = np.zeros(SIZE * SIZE, bool)
            mask[order[:n]] = True
            mask = torch.as_tensor(mask.reshape(SIZE, SIZE))
            deletion.append(torch.softmax(tiny.module(torch.where(mask, 0.0, x)), 1)[0, 2].item())
            insertion.append(torch.softmax(tiny.module(torch.where(mask, x, blur)), 1)[0, 2].item())
    np.testing.assert_allclose(f.deletion, deletion, atol=1e-6)
    np.testing.assert_allclose(f.insertion, insertion, atol=1e-6)
    assert f.deletion_auc == pytest.approx(np.trapezoid(deletion, np.linspace(0, 1, 9)), abs=1e-6)


def test_bad_options_are_clear_errors(tiny, x):
    with pytest.raises(ExplorerError, match="Unknown method"):
        attribute(tiny, x, "lime")
    with pytest.raises(ExplorerError, match="no spatial map"):
        attribute(tiny, x, "gradcam", layer="fc")
    with pytest.raises(ExplorerError, match="window 99"):
        attribute(tiny, x, "occlusion", window=99)


class Functional(nn.Module):
    """Rectifiers called as functions (as GoogLeNet's BasicConv2d does), which fx records as calls."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = torch.nn.functional.relu(self.conv1(x))
        x = torch.nn.functional.hardtanh(self.conv2(x) * 4, 0.0, 6.0)
        return self.fc(x.mean((2, 3)))


def test_guided_backprop_rewrites_functional_rectifiers(x):
    torch.manual_seed(3)
    module = Functional().eval()
    loaded = LoadedModel("functional", module, Preprocess(SIZE, SIZE), "random:3", None)
    ours = attribute(loaded, x, "guided-backprop", target=0).map
    with torch.no_grad():
        z1 = module.conv1(x); a1 = torch.relu(z1)
        z2 = module.conv2(a1) * 4
        a2 = torch.clamp(z2, 0, 6)
    g = module.fc.weight[0].detach()[None, :, None, None].expand_as(a2) / (a2.shape[2] * a2.shape[3])
    g = ((z2 > 0) & (z2 < 6)).float() * g.clamp(min=0)
    g = vjp(lambda t: module.conv2(t) * 4, a1, g)
    g = (z1 > 0).float() * g.clamp(min=0)
    expected = vjp(module.conv1, x, g)[0].numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-7)
