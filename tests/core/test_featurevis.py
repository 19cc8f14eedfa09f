"""Feature visualisation: the parameterisation, the transforms, and an objective that really rises,
measured independently on the saved image through the model's own preprocessing."""

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from torch import nn

from explorer.core.analysis.featurevis import Objective, Settings, visualise
from explorer.core.analysis.featurevis.optimise import _diversity
from explorer.core.analysis.featurevis.param import FourierImage
from explorer.core.analysis.featurevis.transforms import scale_rotate
from explorer.core.data.preprocess import Preprocess
from explorer.core.errors import ExplorerError
from explorer.core.model.zoo import LoadedModel
from explorer.core.progress import run_to_end


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.act1 = nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()
        self.conv2, self.act2 = nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU()
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(16, 5)

    def forward(self, x):
        x = self.act2(self.conv2(self.act1(self.conv1(x))))
        return self.fc(self.pool(x).flatten(1))


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return LoadedModel("small", Small().eval(), Preprocess(40, 32), "random:0", None)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))


def channel_mean(module: Small, x, channel):
    with torch.no_grad():
        return module.act2(module.conv2(module.act1(module.conv1(x))))[:, channel].mean((1, 2))


@pytest.mark.parametrize("decorrelate", [True, False])
def test_the_fourier_parameterisation_round_trips_an_image(decorrelate):
    rng = np.random.default_rng(0)
    image = torch.tensor(rng.uniform(0.05, 0.95, (2, 3, 24, 24)), dtype=torch.float32)
    param = FourierImage(2, 24, decorrelate=decorrelate).from_image(image)
    with torch.no_grad():
        np.testing.assert_allclose(param().numpy(), image.numpy(), atol=2e-5)


def test_the_parameterisation_follows_its_module_to_another_device_and_dtype():
    """Its constants move with it: on an H200 the colour matrix stayed on the CPU and every GPU run failed.
    float64 stands in for the GPU here: a constant left behind fails the same way."""
    rng = np.random.default_rng(1)
    image = torch.tensor(rng.uniform(0.05, 0.95, (1, 3, 16, 16)), dtype=torch.float64)
    param = FourierImage(1, 16).to(torch.float64).from_image(image)
    with torch.no_grad():
        out = param()
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), image.numpy(), atol=1e-5)


def test_a_fresh_parameterisation_is_grey_noise():
    with torch.no_grad():
        x = FourierImage(1, 32, generator=torch.Generator().manual_seed(0))()
    assert abs(float(x.mean()) - 0.5) < 0.05 and float(x.std()) < 0.1


def test_transforms_keep_the_image_at_scale_one_and_rotate_about_the_centre():
    x = torch.rand(1, 3, 16, 16)
    np.testing.assert_allclose(scale_rotate(x, 1.0, 0.0).numpy(), x.numpy(), atol=1e-5)
    turned = scale_rotate(x, 1.0, 90.0)
    assert min(float((turned - torch.rot90(x, k, (2, 3))).abs().max()) for k in (1, 3)) < 1e-4


def test_the_objective_rises_far_above_natural_images(small, tmp_path):
    objective = Objective("channel", 3, "act2")
    result = run_to_end(visualise(small, objective, Settings(steps=150, lr=0.1)))
    path = tmp_path / "vis.png"
    result.images[0].save(path)
    # independently: the saved PNG through the model's preprocessing, the layer computed by hand
    x = small.preprocess(Image.open(path).convert("RGB"))[None]
    assert result.objective_end == pytest.approx(float(channel_mean(small.module, x, 3)), rel=1e-4, abs=1e-6)
    photos = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.astronaut(), skimage.data.rocket()]
    natural = max(float(channel_mean(small.module, small.preprocess(Image.fromarray(p))[None], 3)) for p in photos)
    # (a tiny random network: photos already excite it; the bundled model's ratio is in the benchmark)
    assert result.objective_end > 1.5 * natural and result.objective_end > 10 * result.objective_start


def test_a_class_and_a_unit_objective(small):
    r = run_to_end(visualise(small, Objective("class", 2), Settings(steps=20, transforms=False)))
    with torch.no_grad():
        logit = small.module(small.preprocess(r.images[0])[None])[0, 2].item()
    assert r.objective_end == pytest.approx(logit, rel=1e-4) and r.objective_end > r.objective_start
    u = run_to_end(visualise(small, Objective("unit", 1, "act2"), Settings(steps=20)))
    with torch.no_grad():
        m = small.module
        a = m.act2(m.conv2(m.act1(m.conv1(small.preprocess(u.images[0])[None]))))[0, 1]
    assert u.objective_end == pytest.approx(a[a.shape[0] // 2, a.shape[1] // 2].item(), rel=1e-4, abs=1e-6)


def test_seeded_reproducible_and_cached(small):
    objective = Objective("channel", 0, "act1")
    a = run_to_end(visualise(small, objective, Settings(steps=8, seed=3), cache=False))
    b = run_to_end(visualise(small, objective, Settings(steps=8, seed=3)))
    c = run_to_end(visualise(small, objective, Settings(steps=8, seed=4), cache=False))
    assert np.array_equal(np.asarray(a.images[0]), np.asarray(b.images[0]))
    assert not np.array_equal(np.asarray(a.images[0]), np.asarray(c.images[0]))
    again = run_to_end(visualise(small, objective, Settings(steps=8, seed=3)))
    assert again.cached and np.array_equal(np.asarray(again.images[0]), np.asarray(b.images[0]))
    assert again.objective_end == b.objective_end


def test_diversity_is_the_mean_pairwise_gram_cosine():
    a = torch.randn(3, 4, 5, 5)
    grams = [(f @ f.T).flatten() for f in a.flatten(2)]
    cos = lambda u, v: float(u @ v / (u.norm() * v.norm()))  # noqa: E731
    expected = sum(cos(grams[i], grams[j]) for i in range(3) for j in range(3) if i != j) / 3
    assert float(_diversity(a)) == pytest.approx(expected, rel=1e-5)
    assert float(_diversity(a[:1].repeat(2, 1, 1, 1))) == pytest.approx(1.0)


def test_several_diverse_images(small):
    r = run_to_end(visualise(small, Objective("channel", 5, "act2"), Settings(steps=10, images=2, diversity=5.0)))
    assert len(r.images) == 2 == len(r.values)
    assert not np.array_equal(np.asarray(r.images[0]), np.asarray(r.images[1]))


def test_bad_objectives_are_clear(small):
    with pytest.raises(ExplorerError, match="channel 99 is not in act2"):
        run_to_end(visualise(small, Objective("channel", 99, "act2")))
    with pytest.raises(ExplorerError, match="no spatial map"):
        run_to_end(visualise(small, Objective("unit", 0, "fc")))
    with pytest.raises(ExplorerError, match="needs --layer"):
        run_to_end(visualise(small, Objective("channel", 0)))


def test_redirected_relu_passes_gradient_only_to_images_with_none():
    from explorer.core.analysis.featurevis.redirect import RedirectedClamp

    x = torch.tensor([[-1.0, -2.0, 3.0], [-1.0, -2.0, -3.0]], requires_grad=True)  # image 1 alive, image 2 silent
    g = torch.tensor([[-1.0, 1.0, 2.0], [-1.0, 1.0, 2.0]])
    (grad,) = torch.autograd.grad(RedirectedClamp(0.0, None)(x), x, g)
    # image 1: the plain ReLU gradient; image 2: the incoming one, except where it would push lower
    np.testing.assert_array_equal(grad.numpy(), [[0.0, 0.0, 2.0], [-1.0, 0.0, 0.0]])
    y = torch.tensor([[7.0, 8.0]], requires_grad=True)  # ReLU6, above the cap
    (grad6,) = torch.autograd.grad(RedirectedClamp(0.0, 6.0)(y), y, torch.tensor([[-1.0, 1.0]]))
    np.testing.assert_array_equal(grad6.numpy(), [[0.0, 1.0]])  # only the push back below 6 passes


def test_a_channel_silent_on_the_start_wakes_up(small):
    import copy

    silent = LoadedModel("silent", copy.deepcopy(small.module), small.preprocess, "random:silent", None)
    m = silent.module
    with torch.no_grad():  # channel 4 reads 0 on grey noise: its largest input there lies just below zero
        grey = torch.full((1, 3, 32, 32), 0.5)
        grey = (grey - torch.tensor(silent.preprocess.mean).view(1, 3, 1, 1)) / torch.tensor(
            silent.preprocess.std).view(1, 3, 1, 1)
        m.conv2.bias[4] -= float(m.conv2(m.act1(m.conv1(grey)))[0, 4].max()) + 0.05
    objective = Objective("channel", 4, "act2")
    stuck = run_to_end(visualise(silent, objective, Settings(steps=100, lr=0.1, redirect=False), cache=False))
    woken = run_to_end(visualise(silent, objective, Settings(steps=100, lr=0.1), cache=False))
    assert stuck.objective_start == 0.0 and stuck.objective_end == 0.0
    assert woken.objective_end > 0.01, woken.objective_end
