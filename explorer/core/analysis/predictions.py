"""The classifier's predictions kept in a run (run.arrays.PREDICTIONS), read back with their class names.

    preds = load_predictions(run)          # ExplorerError, one line, when the run has none
    preds.top(i, k=5)                      # [Prediction(index, name, probability, logit)] of image i
    preds.confidence, preds.entropy        # (n,) float32, NaN for rows not embedded

No torch: the numbers were computed in the embedding's forward pass and are only read here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..data.imagenet_classes import CLASSES
from ..errors import ExplorerError
from ..run.store import Run
from .attribution.targets import Prediction


def imagenet_names() -> list[str]:
    """The 1000 ImageNet-1k class names in the order of every ImageNet head (shipped with the app)."""
    return [c[1] for c in CLASSES]


def head_categories(run: Run) -> list[str] | None:
    """The class names of the run's model head (None: unknown; indices are shown as 'class N')."""
    head = run.manifest.get("head") or {}
    names = head.get("categories")
    if names == "imagenet-1k":
        return imagenet_names()
    return list(names) if isinstance(names, list) else None


def has_predictions(run: Run) -> bool:
    return run.has_array("top5_classes") and run.has_array("top5_probabilities")


def no_predictions_message(run: Run) -> str:
    """One line saying why a run has no predictions and the command that adds them."""
    from ..run.cache import cache_root

    if "head" in run.manifest and run.manifest["head"] is None:
        return (f"{run.path}: this run has no predictions: {run.model} has no classifier head (its output is not "
                "one score per class).")
    try:
        cached = os.path.commonpath([os.path.abspath(run.path), os.path.abspath(cache_root())]) == \
            os.path.abspath(cache_root())
    except ValueError:  # different drives
        cached = False
    layers = ",".join(run.layers)
    out = "" if cached else f" --out {_quote(str(run.path))}"
    weights = run.weights
    weights_arg = " --weights random" if weights.startswith("random") else \
        " --weights WEIGHTS_FILE" if weights.startswith("file:") else ""
    why = "it was embedded with --no-predictions" if run.manifest.get("head") else \
        "it was embedded before they were kept"
    return (f"{run.path}: this run has no predictions ({why}); run "
            f"'explorer embed {_quote(run.dataset_root)} --model {run.model}{weights_arg} --layer {layers}"
            f"{out} --overwrite' again to store them.")


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


@dataclass
class Predictions:
    """Per image: the top-k classes (n, k) int32 best first, their probabilities (n, k) float32, the logits
    (n, K) float16 when kept, which rows hold numbers (n,) bool, and the head's class names."""

    classes: np.ndarray
    probabilities: np.ndarray
    logits: np.ndarray | None
    valid: np.ndarray
    categories: list[str] | None
    n_classes: int

    def name(self, index: int) -> str:
        c = self.categories
        return c[index] if c and 0 <= index < len(c) else f"class {index}"

    @property
    def predicted(self) -> np.ndarray:
        """(n,) int64 top-1 class, -1 for rows not embedded."""
        return np.where(self.valid, self.classes[:, 0].astype(np.int64), -1)

    @property
    def confidence(self) -> np.ndarray:
        """(n,) float32: the top-1 probability, NaN for rows not embedded."""
        return np.where(self.valid, self.probabilities[:, 0], np.nan).astype(np.float32)

    @property
    def entropy(self) -> np.ndarray:
        """(n,) float32 softmax entropy in nats, NaN for rows not embedded.

        From the full logits when kept; else from the top-k probabilities with the rest of the mass
        counted as one more outcome (a lower bound of the true entropy)."""
        if self.logits is not None:
            h = np.empty(len(self.logits), np.float64)
            for start in range(0, len(h), 16384):  # in slices: a million rows of 1000 would be 8 GB at once
                z = np.asarray(self.logits[start:start + 16384], np.float32)  # float32: twice as fast
                z = z - z.max(axis=1, keepdims=True)
                log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
                h[start:start + 16384] = -(np.exp(log_p) * log_p).sum(axis=1)
        else:
            p = np.asarray(self.probabilities, np.float64)
            rest = np.clip(1.0 - p.sum(axis=1, keepdims=True), 0.0, 1.0)
            p = np.concatenate([p, rest], axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        return np.where(self.valid, h, np.nan).astype(np.float32)

    def top(self, index: int, k: int = 5) -> list[Prediction]:
        """Image `index`'s k most probable classes (k up to the number kept, or any k with the logits)."""
        if not self.valid[index]:
            return []
        if self.logits is not None and k > self.classes.shape[1]:
            from .attribution.targets import top_k

            return top_k(np.asarray(self.logits[index], np.float32), self.categories, k)
        logit = (lambda c: float(self.logits[index, c])) if self.logits is not None else (lambda c: float("nan"))
        return [Prediction(int(c), self.name(int(c)), float(p), logit(int(c)))
                for c, p in zip(self.classes[index, :k], self.probabilities[index, :k])]


def load_predictions(run: Run) -> Predictions:
    """The run's predictions; ExplorerError (one line, with the command that adds them) when it has none."""
    if not has_predictions(run):
        raise ExplorerError(no_predictions_message(run))
    classes = np.asarray(run.array("top5_classes"))
    probabilities = np.asarray(run.array("top5_probabilities"), np.float32)
    logits = run.array("logits") if run.has_array("logits") else None
    head = run.manifest.get("head") or {}
    n_classes = int(head.get("classes") or (logits.shape[1] if logits is not None else classes.max(initial=0) + 1))
    return Predictions(classes, probabilities, logits, run.done_mask, head_categories(run), n_classes)
