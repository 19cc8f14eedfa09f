"""The registry of per-row arrays: one declaration per array a run can hold.

Each declaration says what one row holds (dtype, shape), whether there is one copy per
embedded layer or one per run, and how a batch of network outputs fills it. The store
creates, resumes, copies (when files change) and reads every registered array the same
way, so adding an array (logits, top-5, probe scores) is one `register(...)` call.

`fill` receives the batch's outputs already in float32 on the CPU or the device:
`out` is the layer's output (B, C, H, W) or (B, C) for per-layer arrays, the model's
logits (B, K) for arrays with source="logits". It returns a (B, *row_shape) tensor or array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

FP16_MAX = float(np.finfo(np.float16).max)


@dataclass(frozen=True)
class ArraySpec:
    name: str
    dtype: str  # numpy dtype name
    per_layer: bool  # one file per embedded layer (features) or one per run (logits)
    row_shape: Callable[[tuple[int, ...]], tuple[int, ...]]  # from the source's shape per image
    fill: Callable  # (outputs of a batch) -> (B, *row_shape)
    source: str = "layer"  # "layer": the layer's output; "logits": the model's final output
    default: bool = True  # written by every embedding (else only when asked for by name)

    def file_name(self, layer_index: int | None) -> str:
        """features.npy for the first layer (the format of the first release), features.L2.npy after."""
        if not self.per_layer or not layer_index:
            return f"{self.name}.npy"
        return f"{self.name}.L{layer_index}.npy"

    def prepare(self, values, dtype=None) -> np.ndarray:
        """A batch's values as stored in `dtype` (default: the declared one); float16 is clipped to its
        range (the store widens an array to float32 before any value would be clipped)."""
        dtype = np.dtype(dtype or self.dtype)
        a = values.cpu().numpy() if hasattr(values, "cpu") else np.asarray(values)
        if dtype == np.float16:
            a = np.clip(a, -FP16_MAX, FP16_MAX)
        return a.astype(dtype, copy=False)

    def values(self, outputs) -> np.ndarray:
        """(B, *row_shape) numpy values of a batch, full precision (float32 or integers)."""
        out = self.fill(outputs)
        return out.cpu().numpy() if hasattr(out, "cpu") else np.asarray(out)


REGISTRY: dict[str, ArraySpec] = {}


def register(spec: ArraySpec) -> ArraySpec:
    REGISTRY[spec.name] = spec
    return spec


def channels(shape: tuple[int, ...]) -> tuple[int, ...]:
    """One value per channel: C of (C, H, W), every value of a flat (C,) layer."""
    return (int(shape[0]),) if len(shape) == 3 else (int(np.prod(shape)),)


def _flat(out):
    return out.flatten(2) if out.dim() == 4 else out.flatten(1)


def _mean(out):
    flat = _flat(out)
    return flat.mean(dim=2) if out.dim() == 4 else flat


def _max(out):
    flat = _flat(out)
    return flat.max(dim=2).values if out.dim() == 4 else flat


def _argmax(out):
    import torch

    flat = _flat(out)
    if out.dim() == 4:
        return flat.argmax(dim=2).to(torch.int32)
    return torch.zeros_like(flat, dtype=torch.int32)


# The arrays of the first release: the spatial mean (the feature vector), and per channel the
# spatial maximum and where it is (y * width + x), for maximally activating patches.
register(ArraySpec("features", "float16", True, channels, _mean))
register(ArraySpec("channel_max", "float16", True, channels, _max))
register(ArraySpec("channel_argmax", "int32", True, channels, _argmax))


# Predictions, kept when the model has a classifier head (its output is one score per class): the
# five most probable classes, their softmax probabilities, and the logits themselves where they are
# small enough to keep for every image (see LOGITS_MAX). Runs without them stay valid (see `predictions`).
TOP_K = 5
LOGITS_MAX = 1000  # classes: N x 1000 float16 is 2 kB per image; an ImageNet-21k head would be 44 kB


def _top(shape):
    return min(TOP_K, int(shape[0]))


def _top_classes(logits):
    import torch

    return logits.topk(min(TOP_K, logits.shape[1]), dim=1).indices.to(torch.int32)


def _top_probabilities(logits):
    probs = logits.float().softmax(dim=1)
    return probs.topk(min(TOP_K, probs.shape[1]), dim=1).values


register(ArraySpec("top5_classes", "int32", False, lambda shape: (_top(shape),), _top_classes, source="logits"))
register(ArraySpec("top5_probabilities", "float32", False, lambda shape: (_top(shape),), _top_probabilities,
                   source="logits"))
register(ArraySpec("logits", "float16", False, lambda shape: tuple(shape), lambda logits: logits, source="logits"))
PREDICTIONS = ("top5_classes", "top5_probabilities", "logits")


def default_arrays(head: tuple[int, ...] | None = None) -> list[str]:
    """The arrays every embedding writes: the per-layer ones, and the predictions when the model's
    output `head` is one score per class ((K,), K >= 2); the logits only up to LOGITS_MAX classes."""
    names = [name for name, spec in REGISTRY.items() if spec.default and spec.source == "layer"]
    if head is not None and len(head) == 1 and head[0] >= 2:
        names += [name for name, spec in REGISTRY.items() if spec.default and spec.source == "logits"
                  and not (name == "logits" and head[0] > LOGITS_MAX)]
    return names


def keyed_arrays(names) -> list[str]:
    """The arrays that tell runs apart (the cache key): the predictions are not among them. They come
    from the same forward pass and do not change the features, so a run written before they were kept
    keeps its key and opens as it is (it just has no predictions)."""
    return sorted(name for name in names if name not in PREDICTIONS)


def plan(layers: list[dict], names: list[str] | None = None,
         logits_shape: tuple[int, ...] | None = None) -> list[dict]:
    """Manifest entries for the arrays of a run: name, layer (None: one per run), file, dtype, row shape.

    layers: [{"name", "shape"}, ...], the first one is the run's main layer.
    """
    out = []
    for name in names or default_arrays():
        spec = REGISTRY[name]
        if spec.per_layer:
            for k, layer in enumerate(layers):
                out.append({"name": name, "layer": layer["name"], "file": spec.file_name(k), "dtype": spec.dtype,
                            "row_shape": list(spec.row_shape(tuple(layer["shape"])))})
        else:
            if logits_shape is None:
                raise ValueError(f"array {name!r} is computed from the logits: pass logits_shape")
            out.append({"name": name, "layer": None, "file": spec.file_name(None), "dtype": spec.dtype,
                        "row_shape": list(spec.row_shape(tuple(logits_shape)))})
    return out
