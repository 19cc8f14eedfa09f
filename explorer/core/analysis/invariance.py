"""How stable is what the network sees: a sweep of one image's variants, embedded and placed in the map.

`sweep(loaded, image, kind, values)` makes a variant per value (perturb.py, adversarial.py), embeds
each at one layer (its features: the spatial mean, as a run stores them) together with the logits,
and reports per value: the top-1 class and its probability, the probability of the clean image's
class, and the cosine of the variant's features to the clean image's. `place_on_map` transforms the
features into a run's fitted projection: a path whose first point is the clean image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..errors import ExplorerError
from ..progress import Step, Work
from .attribution.targets import class_name, resolve_target, top_k
from .perturb import (ADVERSARIAL, check_kind, mean_colour, network_input, normalise, parse_values,
                      perturb_image, to_image, to_unit_tensor)


@dataclass(frozen=True)
class Variant:
    value: float | None  # None: the clean image
    top1: int
    top1_name: str
    top1_probability: float
    original_class_probability: float
    cosine_to_original: float
    cosine_by_layer: dict | None = None  # {layer: cosine} at the extra layers asked for, else None

    def to_dict(self) -> dict:
        out = {"value": self.value, "top1": self.top1, "top1_name": self.top1_name,
               "top1_probability": round(self.top1_probability, 6),
               "original_class_probability": round(self.original_class_probability, 6),
               "cosine_to_original": round(self.cosine_to_original, 6)}
        if self.cosine_by_layer:
            out["cosine_by_layer"] = {k: round(v, 6) for k, v in self.cosine_by_layer.items()}
        return out


@dataclass
class Sweep:
    kind: str
    layer: str
    original: Variant
    variants: list[Variant]
    original_features: np.ndarray  # (C,) float32
    features: np.ndarray  # (n_values, C) float32
    original_image: Image.Image  # the network's input (crop x crop)
    images: list[Image.Image]  # one per value
    perturbations: list[np.ndarray] | None = None  # adversarial: (H, W, 3) float32, variant - original in [0, 1]
    target: int | None = None  # adversarial: the class it was pushed towards (None: away from the prediction)
    target_name: str | None = None
    path: np.ndarray | None = field(default=None, repr=False)  # (n_values + 1, 2) map positions, clean first

    @property
    def values(self) -> list[float]:
        return [v.value for v in self.variants]


class Prober:
    """A model cut once at one layer: embeds batches of [0, 1] images, attacks them (gradients)."""

    def __init__(self, loaded, layer: str | None = None, *, also: tuple[str, ...] = (), device: str = "cpu",
                 batch: int = 16):
        import torch

        from ..model.graph import model_graph

        self.loaded, self.preprocess, self.categories = loaded, loaded.preprocess, loaded.categories
        self.graph = model_graph(loaded)
        self.layer = self.graph.resolve(layer) if layer else self.graph.default
        # further layers whose cosine to the original is reported too (one forward pass for all)
        self.also = [name for name in dict.fromkeys(self.graph.resolve(a) for a in also) if name != self.layer]
        self.device = torch.device(device)
        self.batch = int(batch)
        self.extractor = self.graph.extractor([self.layer, *self.also], logits=True).to(self.device)
        self._gradients = None

    @property
    def gradient_model(self):
        if self._gradients is None:  # cut only when an attack needs it
            self._gradients = self.graph.gradient_model([]).to(self.device)
        return self._gradients

    def embed(self, x) -> tuple[np.ndarray, np.ndarray]:
        """x (B, 3, H, W) in [0, 1] -> features (B, C) float32 (spatial mean), logits (B, K) float32."""
        feats, logits = self.embed_layers(x)
        return feats[self.layer], logits

    def embed_layers(self, x) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Like `embed`, with the features of every layer: {layer: (B, C)}, logits (B, K)."""
        import torch

        feats: dict[str, list] = {name: [] for name in [self.layer, *self.also]}
        logits = []
        with torch.inference_mode():
            for i in range(0, len(x), self.batch):
                out = self.extractor(normalise(x[i:i + self.batch].to(self.device), self.preprocess))
                for name, parts in feats.items():
                    f = out[name].float()
                    parts.append((f.flatten(2).mean(2) if f.dim() == 4 else f.flatten(1)).cpu().numpy())
                logits.append(out["logits"].float().flatten(1).cpu().numpy())
        return {name: np.concatenate(parts) for name, parts in feats.items()}, np.concatenate(logits)

    def variants(self, img: Image.Image, kind: str, values, *, seed: int = 0, at=(0.5, 0.5),
                 label: int | None = None, target: int | None = None, steps: int = 10):
        """(n, 3, H, W) [0, 1] variants of the network-input image `img`; adversarial kinds need `label`
        (the clean prediction) or `target`."""
        import torch

        if kind in ADVERSARIAL:
            from .adversarial import attack

            # FGSM's gradient is the same at every epsilon: one copy of the image broadcasts over them
            copies = 1 if kind == "fgsm" else len(values)
            x = to_unit_tensor(img)[None].to(self.device).repeat(copies, 1, 1, 1)
            cls = target if target is not None else label
            labels = torch.full((copies,), int(cls), dtype=torch.long, device=self.device)
            return attack(kind, self.gradient_model, x, labels, self.preprocess, list(values),
                          targeted=target is not None, seed=seed, steps=steps).cpu()
        colour = mean_colour(self.preprocess)
        return torch.stack([to_unit_tensor(perturb_image(img, kind, v, seed=seed, at=at, fill_colour=colour))
                            for v in values])


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of each row of a (n, C) to b (C,); 0 where a vector is all zeros."""
    a, b = np.atleast_2d(np.asarray(a, np.float64)), np.asarray(b, np.float64)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b)
    return np.where(den > 0, a @ b / np.where(den > 0, den, 1), 0.0)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def describe(values, logits: np.ndarray, features: np.ndarray, clean_features: np.ndarray, clean_class: int,
             categories) -> list[Variant]:
    p = softmax(logits)
    cos = cosine(features, clean_features)
    out = []
    for v, row, prob, c in zip(values, logits, p, cos):
        best = top_k(row, categories, 1)[0]
        out.append(Variant(None if v is None else float(v), best.index, best.name, best.probability,
                           float(prob[clean_class]), float(c)))
    return out


def sweep(loaded, image: Image.Image, kind: str, values=None, *, layer: str | None = None, target=None,
          seed: int = 0, at=(0.5, 0.5), steps: int = 10, device: str = "cpu", also: tuple[str, ...] = (),
          prober: Prober | None = None) -> Work[Sweep]:
    """The variants of `image` for each value of `kind` (values: a list or 'START:STOP:STEP'; None: the
    kind's default), embedded at `layer` (default: the model's default layer). `target` (adversarial
    only): a class index or name to push towards; None pushes away from the clean prediction. `also`:
    further layers whose cosine to the original each variant reports (`cosine_by_layer`)."""
    import torch

    kind = check_kind(kind)
    values = parse_values(values, kind) if values is None or isinstance(values, str) else [float(v) for v in values]
    if target is not None and kind not in ADVERSARIAL:
        raise ExplorerError(f"--target applies to fgsm and pgd, not to {kind}.")
    total = len(values) + 2
    yield Step(0, total, f"{kind}: loading")
    prober = prober or Prober(loaded, layer, also=also, device=device)
    clean = network_input(loaded.preprocess, image)
    x0 = to_unit_tensor(clean)[None]
    by_layer0, l0 = prober.embed_layers(x0)
    f0 = by_layer0[prober.layer]
    clean_class = top_k(l0[0], prober.categories, 1)[0].index
    target_index = None if target is None else resolve_target(target, l0[0], prober.categories)
    yield Step(1, total, f"{kind}: making {len(values)} variants")
    x = prober.variants(clean, kind, values, seed=seed, at=at, label=clean_class, target=target_index, steps=steps)
    yield Step(2, total, f"{kind}: embedding")
    parts, logits = [], []
    for i in range(0, len(values), prober.batch):
        f, lg = prober.embed_layers(x[i:i + prober.batch])
        parts.append(f)
        logits.append(lg)
        yield Step(2 + min(len(values), i + prober.batch), total, f"{kind}: embedding")
    by_layer = {name: np.concatenate([p[name] for p in parts]) for name in by_layer0}
    feats, logits = by_layer[prober.layer], np.concatenate(logits)
    original = describe([None], l0, f0, f0[0], clean_class, prober.categories)[0]
    variants = describe(values, logits, feats, f0[0], clean_class, prober.categories)
    if prober.also:
        from dataclasses import replace

        cos = {name: cosine(by_layer[name], by_layer0[name][0]) for name in prober.also}
        variants = [replace(v, cosine_by_layer={prober.layer: v.cosine_to_original,
                                                **{name: float(cos[name][j]) for name in prober.also}})
                    for j, v in enumerate(variants)]
    perturbations = None
    if kind in ADVERSARIAL:
        perturbations = [(xi - x0[0]).permute(1, 2, 0).numpy().astype(np.float32) for xi in x]
    with torch.no_grad():
        images = [to_image(xi) for xi in x]
    return Sweep(kind, prober.layer, original, variants,
                 f0[0].astype(np.float32), feats.astype(np.float32), clean, images, perturbations, target_index,
                 None if target_index is None else class_name(target_index, prober.categories))


# --- into the map -----------------------------------------------------------------------------------

def run_projector(run):
    """The fitted projection of the run's current map (what the app shows), or an ExplorerError saying
    how to make one."""
    from .kept_projections import current_projection, load_projector

    current = current_projection(run)
    if current is None:
        raise ExplorerError(f"{run.path}: no map was computed from the run's current rows; run "
                            f"'explorer project {run.path}' first.")
    record = current[1]
    kwargs = {"perplexity": record["perplexity"]} if record.get("method") == "tsne" and "perplexity" in record else {}
    projector = load_projector(run, record.get("method", "pca"), seed=record.get("seed", 0), **kwargs)
    if projector is None:
        raise ExplorerError(f"{run.path}: the map's fitted projection was not kept (a run of the first release); "
                            f"project it again with 'explorer project {run.path}'.")
    return projector


def place_on_map(projection, sweep_result: Sweep) -> np.ndarray:
    """(n_values + 1, 2) float32 map positions of the clean image then each variant; kept on the sweep."""
    features = np.vstack([sweep_result.original_features[None], sweep_result.features])
    try:
        sweep_result.path = np.asarray(projection.transform(features), np.float32)
    except ValueError as exc:  # scikit-learn: a different number of features (another layer)
        raise ExplorerError(f"the map was made from another layer than {sweep_result.layer} "
                            f"({features.shape[1]} features do not fit it: {str(exc).splitlines()[0][:120]}); "
                            "sweep at the map's layer.") from None
    return sweep_result.path


@dataclass(frozen=True)
class MapPath:
    """A sweep drawn in the map (Session.variant_path): the clean image's point, then one per value."""

    index: int  # the run's row that was perturbed
    kind: str
    points: np.ndarray  # (n_values + 1, 2) float32, map coordinates
    labels: tuple[str, ...]  # one per point: "original", then the values

    @classmethod
    def of(cls, index: int, result: Sweep) -> "MapPath":
        if result.path is None:
            raise ValueError("place the sweep on a map first (place_on_map)")
        return cls(int(index), result.kind, result.path,
                   ("original",) + tuple(f"{v:g}" for v in result.values))
