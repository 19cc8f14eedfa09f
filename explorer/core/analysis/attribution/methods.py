"""The attribution methods, each as defined in its paper; every map is raw float32 at the input size.

Conventions (also in the README): the target score is the class's logit (pre-softmax), except for
occlusion and the faithfulness curves, which use its softmax probability. Gradient maps are
(3, H, W), in the network's normalised input space; CAM-family and occlusion maps are (H, W),
upsampled bilinearly (align_corners=False) from the layer's grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import ExplorerError
from ...progress import Step, Work
from ...model.precision import exact_float32
from .explainer import Explainer
from .names import BASELINES, LAYER_METHODS, METHODS
from .targets import Prediction, class_name, resolve_target, top_k



@dataclass
class Attribution:
    method: str
    layer: str | None
    target: int
    target_name: str
    score: float  # the target's logit
    probability: float  # the target's softmax probability
    input_size: int
    map: np.ndarray  # float32: (H, W) or (3, H, W), raw (no normalisation)
    top5: list[Prediction] = field(default_factory=list)
    settings: dict = field(default_factory=dict)  # window, stride, baseline, steps

    def heat(self) -> np.ndarray:
        """(H, W) for display and ranking: a (3, H, W) map's largest absolute value over colours."""
        m = self.map
        return np.abs(m).max(0) if m.ndim == 3 else m


@dataclass(frozen=True)
class Options:
    layer: str | None = None
    target: object = None  # None/"top1".."top5", an index or a class name
    window: int | None = None  # occlusion: square window, input pixels (default: input size / 7)
    stride: int | None = None  # occlusion: default window / 2
    baseline: str = "zero"  # occlusion and integrated gradients: zero | blur | black
    steps: int = 32  # integrated gradients
    batch: int = 16


def explain(explainer: Explainer, x: torch.Tensor, method: str, options: Options = Options()) -> Work[Attribution]:
    """One image's map, as a generator of Steps (occlusion streams partial maps) returning it."""
    if method not in METHODS:
        raise ExplorerError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    if options.baseline not in BASELINES:
        raise ExplorerError(f"Unknown baseline {options.baseline!r}; choose one of {', '.join(BASELINES)}.")
    with exact_float32(explainer.device):
        return (yield from _explain(explainer, x, method, options))


def _explain(explainer: Explainer, x: torch.Tensor, method: str, options: Options) -> Work[Attribution]:
    x = x[:1].to(explainer.device)
    layer = explainer.resolve_layer(options.layer) if method in LAYER_METHODS else None
    # gradient methods take the top five from their own forward pass: one pass fewer per map
    first = None
    if method in ("gradient", "guided-backprop"):
        first = _Pass(explainer, x, (), guided=method == "guided-backprop")
    elif method in LAYER_METHODS:
        first = _Pass(explainer, x, (layer,))
    if first is not None:
        logits = first.out["logits"][0].detach().float().cpu().numpy()
        top5 = top_k(logits, explainer.categories, 5)
    else:
        logits, top5 = explainer.top5(x)
    target = resolve_target(options.target, logits, explainer.categories)
    settings: dict = {}
    yield Step(0, None, f"{method}")
    if method in ("gradient", "guided-backprop"):
        m = first.input_gradient(target)
    elif method == "cam":
        head = explainer.cam_head()
        layer = head.layer
        m = cam(explainer, x, target, head)
    elif method in LAYER_METHODS:
        m = _upsample(first.grad_cam(target, layer, plus=method == "gradcam++"), explainer.input_size)
        if method == "guided-gradcam":
            m = input_gradient(explainer, x, target, guided=True) * m[None]
    elif method == "occlusion":
        window, stride = occlusion_window(explainer.input_size, options.window, options.stride)
        settings = {"window": window, "stride": stride, "baseline": options.baseline}
        m = yield from occlusion(explainer, x, target, window=window, stride=stride,
                                 baseline=options.baseline, batch=options.batch)
    else:
        if options.steps < 1:
            raise ExplorerError("--steps must be at least 1.")
        settings = {"steps": options.steps, "baseline": options.baseline}
        m = yield from integrated_gradients(explainer, x, target, steps=options.steps,
                                            baseline=options.baseline, batch=options.batch)
    p = np.exp(logits - logits.max())
    return Attribution(method, layer, target, class_name(target, explainer.categories), float(logits[target]),
                       float(p[target] / p.sum()), explainer.input_size, np.asarray(m, np.float32), top5, settings)


# --- gradients -------------------------------------------------------------------------------------

class _Pass:
    """One forward pass kept for autograd: the logits, the layers' outputs, the input's handle."""

    def __init__(self, explainer: Explainer, x: torch.Tensor, layers: tuple, *, guided: bool = False):
        model = explainer.cut(layers, guided=guided)
        self.x = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            self.out = model(self.x)

    def input_gradient(self, target: int) -> np.ndarray:
        """d logit[target] / d input: (3, H, W)."""
        (g,) = torch.autograd.grad(self.out["logits"][:, target].sum(), self.x)
        return g[0].float().cpu().numpy()

    def grad_cam(self, target: int, layer: str, *, plus: bool = False) -> torch.Tensor:
        """Grad-CAM (Selvaraju et al. 2017) on the layer's grid: ReLU(sum_k alpha_k A_k), alpha_k the
        spatial mean of d logit / dA_k. Grad-CAM++ (Chattopadhay et al. 2018) weighs the positive
        gradients by a = g^2 / (2 g^2 + sum(A) g^3), the paper's closed form for an exponential score."""
        a = self.out[layer]
        (g,) = torch.autograd.grad(self.out["logits"][:, target].sum(), a)
        a, g = a[0].detach().double(), g[0].double()
        if plus:
            g2, g3 = g ** 2, g ** 3
            denom = 2 * g2 + a.sum((1, 2), keepdim=True) * g3
            coeff = torch.where(g != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)),
                                torch.zeros_like(g))
            alpha = (coeff * g.clamp(min=0)).sum((1, 2))
        else:
            alpha = g.mean((1, 2))
        return torch.relu(torch.einsum("k,khw->hw", alpha, a))


def input_gradient(explainer: Explainer, x: torch.Tensor, target: int, *, guided: bool = False) -> np.ndarray:
    """d logit[target] / d input: (3, H, W); with `guided`, through guided backprop's rule."""
    return _Pass(explainer, x, (), guided=guided).input_gradient(target)


def integrated_gradients(explainer: Explainer, x: torch.Tensor, target: int, *, steps: int, baseline: str,
                         batch: int = 16) -> Work[np.ndarray]:
    """(x - x') * mean over k=1..steps of the gradient at x' + k/steps (x - x') (right Riemann sum)."""
    model = explainer.cut(())
    base = baseline_image(explainer, x, baseline)
    alphas = torch.arange(1, steps + 1, dtype=x.dtype, device=x.device) / steps
    total = torch.zeros_like(x[0])
    for i in range(0, steps, batch):
        a = alphas[i:i + batch].view(-1, 1, 1, 1)
        with torch.enable_grad():
            xi = (base + a * (x - base)).detach().requires_grad_(True)
            (g,) = torch.autograd.grad(model(xi)["logits"][:, target].sum(), xi)
        total += g.sum(0)
        yield Step(min(i + batch, steps), steps, "integrated gradients")
    return ((x[0] - base[0]) * total / steps).float().cpu().numpy()


# --- class activation maps -------------------------------------------------------------------------

def _upsample(m: torch.Tensor, size: int) -> np.ndarray:
    """(h, w) -> (size, size), bilinear, align_corners=False (how a layer's grid covers the input)."""
    return F.interpolate(m[None, None].float(), size=(size, size), mode="bilinear",
                         align_corners=False)[0, 0].cpu().numpy()


def cam_grid(explainer: Explainer, x: torch.Tensor, target: int, head) -> torch.Tensor:
    """CAM (Zhou et al. 2016) on the layer's grid: sum_k w[target, k] A_k, where the global average
    pool reads A and w is the linear layer's weight (its bias shifts every pixel equally: left out)."""
    model = explainer.cut((head.layer,), plain=True)
    with torch.no_grad():
        a = model(x)[head.layer][0].double()
    w = model.graph_module.get_submodule(head.linear).weight[target].double()
    return torch.einsum("k,khw->hw", w, a)


def cam(explainer: Explainer, x: torch.Tensor, target: int, head) -> np.ndarray:
    return _upsample(cam_grid(explainer, x, target, head), explainer.input_size)


def grad_cam_grid(explainer: Explainer, x: torch.Tensor, target: int, layer: str, *,
                  plus: bool = False) -> torch.Tensor:
    """Grad-CAM (or Grad-CAM++ with `plus`) on the layer's grid; see _Pass.grad_cam."""
    return _Pass(explainer, x, (layer,)).grad_cam(target, layer, plus=plus)


# --- occlusion -------------------------------------------------------------------------------------

def occlusion_window(size: int, window: int | None, stride: int | None) -> tuple[int, int]:
    window = int(window) if window else max(1, round(size / 7))
    stride = int(stride) if stride else max(1, window // 2)
    if not 1 <= window <= size:
        raise ExplorerError(f"--window {window} must be between 1 and the input size {size}.")
    if not 1 <= stride <= size:
        raise ExplorerError(f"--stride {stride} must be between 1 and the input size {size}.")
    return window, stride


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Window positions along one side; the last one is moved flush to the edge so every pixel is covered."""
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


def baseline_image(explainer: Explainer, x: torch.Tensor, baseline: str) -> torch.Tensor:
    """What hides a pixel, in normalised input space: zero (the mean colour), black, or a blur
    (Gaussian, sigma = input size / 22.4, i.e. 10 px at 224)."""
    if baseline == "zero":
        return torch.zeros_like(x)
    if baseline == "black":
        mean = torch.tensor(explainer.preprocess.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(explainer.preprocess.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return ((0 - mean) / std).expand_as(x).clone()
    from torchvision.transforms.functional import gaussian_blur

    sigma = explainer.input_size / 22.4
    k = 2 * int(round(3 * sigma)) + 1
    return gaussian_blur(x, [k, k], [sigma, sigma])


def occlusion(explainer: Explainer, x: torch.Tensor, target: int, *, window: int, stride: int,
              baseline: str = "zero", batch: int = 16) -> Work[np.ndarray]:
    """Zeiler & Fergus 2014: the drop in the target's probability when a window is hidden, averaged
    over the windows covering each pixel. Partial maps stream in Step.partial."""
    size = explainer.input_size
    base = baseline_image(explainer, x, baseline)
    p0 = float(explainer.probabilities(x, target)[0])
    starts = window_starts(size, window, stride)
    boxes = [(top, left) for top in starts for left in starts]
    total = np.zeros((size, size), np.float64)
    count = np.zeros((size, size), np.float64)
    for i in range(0, len(boxes), batch):
        chunk = boxes[i:i + batch]
        xs = x.repeat(len(chunk), 1, 1, 1)
        for j, (top, left) in enumerate(chunk):
            xs[j, :, top:top + window, left:left + window] = base[0, :, top:top + window, left:left + window]
        drops = p0 - explainer.probabilities(xs, target, batch=batch).cpu().numpy().astype(np.float64)
        for (top, left), d in zip(chunk, drops):
            total[top:top + window, left:left + window] += d
            count[top:top + window, left:left + window] += 1
        partial = np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)
        yield Step(i + len(chunk), len(boxes), "occlusion", partial=partial)
    return (total / count).astype(np.float32)
