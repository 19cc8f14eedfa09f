"""Which class a map explains: the prediction, one of the top five, an index or a class name."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ExplorerError


@dataclass(frozen=True)
class Prediction:
    index: int
    name: str
    probability: float  # softmax over the model's logits
    logit: float


def top_k(logits: np.ndarray, categories: list[str] | None, k: int = 5) -> list[Prediction]:
    """The k most probable classes of one image's logits (n_classes,)."""
    logits = np.asarray(logits, np.float64)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    order = np.argsort(-logits, kind="stable")[:k]
    return [Prediction(int(i), class_name(int(i), categories), float(p[i]), float(logits[i])) for i in order]


def class_name(index: int, categories: list[str] | None) -> str:
    return categories[index] if categories and 0 <= index < len(categories) else f"class {index}"


def resolve_target(spec, logits: np.ndarray, categories: list[str] | None) -> int:
    """The class index meant by `spec`: None/"top1".."top5", an index (int or digits) or a class name.

    A name matches case-insensitively, exactly or as the one class containing it; an ambiguous or
    unknown name is an error listing candidates.
    """
    n = int(np.asarray(logits).shape[-1])
    text = "top1" if spec is None else str(spec).strip()
    low = text.lower()
    if low.startswith("top") and low[3:].isdigit():
        k = int(low[3:])
        if not 1 <= k <= min(5, n):
            raise ExplorerError(f"target {text!r}: choose top1 to top{min(5, n)}.")
        return top_k(logits, categories, k)[k - 1].index
    if low.lstrip("-").isdigit():
        index = int(low)
        if not 0 <= index < n:
            raise ExplorerError(f"target {index} is not a class of this model (0 to {n - 1}).")
        return index
    if not categories:
        raise ExplorerError(f"target {text!r}: this model's head has no class names; give a class index "
                            f"0 to {n - 1} or top1..top5.")
    exact = [i for i, c in enumerate(categories) if c.lower() == low]
    if exact:
        return exact[0]
    partial = [i for i, c in enumerate(categories) if low in c.lower()]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        from difflib import get_close_matches

        close = get_close_matches(text, categories, n=4, cutoff=0.5) or categories[:2]
        raise ExplorerError(f"target {text!r} names no class of this model (close: "
                            f"{', '.join(repr(c) for c in close)}; or give an index).")
    names = ", ".join(repr(categories[i]) for i in partial[:6])
    raise ExplorerError(f"target {text!r} matches {len(partial)} classes ({names}{', ...' if len(partial) > 6 else ''}): "
                        "be more precise or give an index.")
