"""Is a map explaining the model? Cascading randomisation and deletion/insertion curves.

Sanity (Adebayo et al. 2018, "Sanity checks for saliency maps"): re-compute the map with the
model's top units re-initialised, one more unit at a time from the output down, and report the
Spearman rank correlation of each map's heat with the original's. A method whose map barely
changes is not explaining what the model learnt.

Faithfulness (Petsiuk et al. 2018, RISE): hide pixels in order of attribution (deletion, towards
the zero baseline) or reveal them onto a blurred image (insertion), and follow the target's softmax
probability; the curves' areas (trapezoids over the fraction of pixels) compare methods on one
image: lower deletion and higher insertion mean a more faithful map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...progress import Step, Work, run_to_end
from .explainer import Explainer, cascade_units
from .methods import Attribution, Options, baseline_image, explain


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two maps' values (ties get average ranks)."""
    from scipy.stats import spearmanr

    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:  # a constant map ranks nothing (e.g. all zero after ReLU)
        return 0.0
    rho = spearmanr(a, b).statistic
    return float(rho) if np.isfinite(rho) else 0.0


@dataclass
class SanityResult:
    units: list[str]  # randomised cumulatively: units[:i+1] at step i
    rank_corr: list[float]  # Spearman rho of each step's heat with the original's


def sanity_check(explainer: Explainer, x: torch.Tensor, original: Attribution, *,
                 max_units: int | None = 8) -> Work[SanityResult]:
    """Cascading randomisation of the top `max_units` units (all with None), from the output down."""
    units = cascade_units(explainer.loaded)[:max_units] if max_units else cascade_units(explainer.loaded)
    options = Options(layer=original.layer, target=original.target, **original.settings)
    rhos = []
    for i in range(len(units)):
        yield Step(i, len(units), f"sanity: randomising {units[i]}")
        shuffled = Explainer(explainer.loaded, randomised=units[:i + 1], device=str(explainer.device))
        again = run_to_end(explain(shuffled, x, original.method, options))
        rhos.append(rank_correlation(original.heat(), again.heat()))
    yield Step(len(units), len(units), "sanity")
    return SanityResult(units, rhos)


@dataclass
class Faithfulness:
    fractions: np.ndarray  # (steps + 1,) share of pixels hidden (deletion) or shown (insertion)
    deletion: np.ndarray  # (steps + 1,) target probability
    insertion: np.ndarray
    deletion_auc: float
    insertion_auc: float


def pixel_order(heat: np.ndarray) -> np.ndarray:
    """Flat pixel indices from most to least attributed (stable for ties)."""
    return np.argsort(-np.ravel(heat), kind="stable")


def faithfulness(explainer: Explainer, x: torch.Tensor, attribution: Attribution, *, steps: int = 32,
                 batch: int = 16) -> Work[Faithfulness]:
    x = x[:1]
    size = explainer.input_size
    order = torch.as_tensor(pixel_order(attribution.heat()), device=x.device)
    counts = np.round(np.linspace(0, size * size, steps + 1)).astype(int)
    zero = baseline_image(explainer, x, "zero")
    blur = baseline_image(explainer, x, "blur")
    curves = {}
    for name, start, end in (("deletion", x, zero), ("insertion", blur, x)):
        probs = []
        for i in range(0, len(counts), batch):
            chunk = counts[i:i + batch]
            xs = start.repeat(len(chunk), 1, 1, 1).reshape(len(chunk), 3, -1)
            src = end.reshape(1, 3, -1)
            for j, n in enumerate(chunk):
                idx = order[:n]
                xs[j][:, idx] = src[0][:, idx]
            probs.append(explainer.probabilities(xs.reshape(len(chunk), 3, size, size), attribution.target,
                                                 batch=batch).cpu().numpy())
            yield Step(i + len(chunk) + (len(counts) if name == "insertion" else 0), 2 * len(counts), name)
        curves[name] = np.concatenate(probs).astype(np.float64)
    fractions = counts / float(size * size)
    return Faithfulness(fractions, curves["deletion"], curves["insertion"],
                        float(np.trapezoid(curves["deletion"], fractions)),
                        float(np.trapezoid(curves["insertion"], fractions)))
