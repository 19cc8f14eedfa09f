"""The robustness table of a run: per perturbation level, how often the prediction survives.

For every image of the run (or a seeded sample), the clean image and its variants (invariance.py)
go through the run's model at the run's layer. Per value: `agreement`, the share of images whose
top-1 class is the clean image's; `accuracy`, the share right by their folder label where labels
map to the head's classes (class_mapping.py; None where none do); `mean_cosine`, the mean cosine of
the variants' features to the clean features. For fgsm/pgd, 1 - agreement is the attack's success rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DecodeError, ExplorerError
from ..progress import Step, Work
from .invariance import Prober, cosine
from .perturb import check_kind, network_input, parse_values, to_unit_tensor


@dataclass(frozen=True)
class Level:
    value: float
    agreement: float
    accuracy: float | None
    mean_cosine: float

    def to_dict(self) -> dict:
        return {"value": self.value, "agreement": round(self.agreement, 6),
                "accuracy": None if self.accuracy is None else round(self.accuracy, 6),
                "mean_cosine": round(self.mean_cosine, 6)}


@dataclass
class Robustness:
    kind: str
    layer: str
    levels: list[Level]
    n_images: int  # images measured (unreadable ones are left out)
    n_labelled: int  # of them, with a label that maps to the head's classes
    clean_accuracy: float | None
    skipped: int = 0


def model_for_run(run, weights: str | None = None):
    """The run's model with the run's weights and input size; a file of weights must be given again."""
    from ..model.zoo import load_model

    recorded = run.weights
    if weights is None:
        if recorded.startswith("file:"):
            raise ExplorerError(f"{run.path} was embedded with weights from a file ({recorded.split(':')[1]}); "
                                "pass --weights PATH to that file.")
        weights = "random" if recorded.startswith("random") else None
    loaded = load_model(run.model, weights, image_size=run.input_size)
    if loaded.weights_id != recorded:
        raise ExplorerError(f"{run.path} was embedded with weights {recorded}, but these are {loaded.weights_id}; "
                            "pass the same --weights.")
    return loaded


def sample_rows(run, sample: int | None, seed: int = 0) -> np.ndarray:
    """The embedded rows, or a seeded sample of `sample` of them (sorted)."""
    rows = np.flatnonzero(run.done_mask)
    if sample is not None and sample < len(rows):
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=int(sample), replace=False))
    return rows


def robustness(run, kind: str, values=None, *, loaded=None, weights: str | None = None, sample: int | None = None,
               seed: int = 0, layer: str | None = None, device: str = "cpu", steps: int = 10) -> Work[Robustness]:
    from .class_mapping import map_labels

    kind = check_kind(kind)
    values = parse_values(values, kind) if values is None or isinstance(values, str) else [float(v) for v in values]
    rows = sample_rows(run, sample, seed)
    if not len(rows):
        raise ExplorerError(f"{run.path} has no embedded images to measure.")
    yield Step(0, len(rows), f"loading {run.model}")
    loaded = loaded or model_for_run(run, weights)
    prober = Prober(loaded, layer or run.layer, device=device, batch=32)
    mapping = map_labels(run.labels, loaded.categories, _classes(prober))
    agree, cos, right, clean_right = [], [], [], []
    skipped, done = 0, 0
    chunk = max(1, 32 // (len(values) + 1))  # images per forward batch: small batches waste the CPU
    for start in range(0, len(rows), chunk):
        images, kept = [], []
        for i in rows[start:start + chunk]:
            try:
                images.append(network_input(loaded.preprocess, run.source.load(int(i), run.rows[int(i)].path)))
                kept.append(int(i))
            except DecodeError:
                skipped += 1  # a file changed or vanished since the run: left out, counted
        if images:
            import torch

            f0, l0 = prober.embed(torch.stack([to_unit_tensor(im) for im in images]))
            clean = l0.argmax(1)
            x = torch.cat([prober.variants(im, kind, values, seed=seed + i, label=int(c), steps=steps)
                           for im, i, c in zip(images, kept, clean)])
            f, lg = prober.embed(x)
            n = len(values)
            for k, i in enumerate(kept):
                top1 = lg[k * n:(k + 1) * n].argmax(1)
                agree.append(top1 == clean[k])
                cos.append(cosine(f[k * n:(k + 1) * n], f0[k]))
                label = run.rows[i].label
                classes = mapping[str(label)].classes if label is not None and str(label) in mapping else ()
                if classes:
                    right.append(np.isin(top1, classes))
                    clean_right.append(int(clean[k]) in classes)
        done = min(len(rows), start + chunk)
        yield Step(done, len(rows), f"{kind}: {done} of {len(rows)} images")
    if not agree:
        raise ExplorerError(f"{run.path}: none of the {len(rows)} images could be read.")
    agree, cos = np.array(agree), np.array(cos)
    right = np.array(right) if right else None
    levels = [Level(float(values[j]), float(agree[:, j].mean()),
                    None if right is None else float(right[:, j].mean()), float(cos[:, j].mean()))
              for j in range(len(values))]
    return Robustness(kind, prober.layer, levels, len(agree), 0 if right is None else len(right),
                      float(np.mean(clean_right)) if clean_right else None, skipped)


def _classes(prober) -> int:
    """The head's number of classes (from the categories, else one forward pass of a blank image)."""
    if prober.categories:
        return len(prober.categories)
    import torch

    size = prober.preprocess.crop
    return int(prober.embed(torch.zeros(1, 3, size, size))[1].shape[1])
