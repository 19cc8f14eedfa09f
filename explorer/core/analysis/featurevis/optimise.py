"""What a neuron wants: an image optimised to excite a class logit, a channel or one unit.

Gradient ascent on a parameterised image (param.py) seen through random transforms at every step
(transforms.py), with total-variation and L2 penalties; each part switchable (Settings), seeded
and reproducible. The result's objective is measured again on the saved image passed through the
model's own preprocessing, the way any photo would be, so its number compares with a dataset's.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ...errors import ExplorerError
from ...model.graph import model_graph
from ...model.zoo import LoadedModel
from ...progress import Step, Work
from . import transforms
from .param import FourierImage, PixelImage

KINDS = ("class", "channel", "unit")


@dataclass(frozen=True)
class Objective:
    kind: str  # class: a logit; channel: a channel's spatial mean at `layer`; unit: its centre unit
    index: int  # the class or the channel
    layer: str | None = None  # None for a class

    def describe(self, categories: list[str] | None = None) -> str:
        if self.kind == "class":
            name = categories[self.index] if categories and self.index < len(categories) else f"class {self.index}"
            return f"logit of {name} (#{self.index})"
        what = "mean of channel" if self.kind == "channel" else "centre unit of channel"
        return f"{what} {self.index} at {self.layer}"


@dataclass(frozen=True)
class Settings:
    steps: int = 256
    size: int | None = None  # the optimised image's side (default: the model's input size)
    lr: float = 0.05
    seed: int = 0
    fourier: bool = True  # Fourier parameterisation (else pixels)
    decorrelate: bool = True  # decorrelated colour space
    transforms: bool = True  # jitter, scale and rotation at each step
    tv: float = 0.05  # total-variation weight (in units of the objective)
    l2: float = 0.05  # weight of the mean squared distance from grey
    images: int = 1  # several images of one objective ...
    diversity: float = 0.0  # ... pushed apart by this weight (Gram-matrix cosine at the layer)
    redirect: bool = True  # Lucid's redirected ReLU gradient: units silent on the start can wake up

    @classmethod
    def unregularised(cls, **kw) -> "Settings":
        return cls(fourier=False, decorrelate=False, transforms=False, tv=0.0, l2=0.0, redirect=False, **kw)


@dataclass
class Visualisation:
    objective: Objective
    settings: Settings
    images: list  # PIL images, one per `settings.images`
    objective_start: float  # measured on the starting image, through the model's preprocessing
    objective_end: float  # measured on the saved result the same way (first image)
    values: list[float] = field(default_factory=list)  # each image's measured objective
    seconds: float = 0.0
    cached: bool = False


def check(loaded: LoadedModel, objective: Objective) -> None:
    """One clear line for an objective the model cannot have."""
    if objective.kind not in KINDS:
        raise ExplorerError(f"Unknown objective {objective.kind!r}; choose one of {', '.join(KINDS)}.")
    graph = model_graph(loaded)
    if objective.kind == "class":
        n = len(loaded.categories) if loaded.categories else None
        if objective.index < 0 or (n is not None and objective.index >= n):
            raise ExplorerError(f"class {objective.index} is not a class of {loaded.name} (0 to {(n or 1) - 1}).")
        return
    if not objective.layer:
        raise ExplorerError("a channel or unit objective needs --layer.")
    info = graph[objective.layer]
    if not 0 <= objective.index < info.shape[0]:
        raise ExplorerError(f"channel {objective.index} is not in {info.name} ({info.shape[0]} channels).")
    if objective.kind == "unit" and len(info.shape) != 3:
        raise ExplorerError(f"{info.name} has no spatial map, so it has no centre unit; use a channel objective.")


def _values(out: dict, objective: Objective) -> torch.Tensor:
    """(n,) the objective of each image in a batch of the model's outputs."""
    if objective.kind == "class":
        return out["logits"][:, objective.index]
    a = out[objective.layer][:, objective.index]
    if a.dim() == 1:
        return a
    if objective.kind == "unit":
        return a[:, a.shape[1] // 2, a.shape[2] // 2]
    return a.flatten(1).mean(1)


def _diversity(a: torch.Tensor) -> torch.Tensor:
    """Lucid's diversity: the mean pairwise cosine of the images' Gram matrices (0: all different)."""
    n = a.shape[0]
    flat = a.flatten(2) if a.dim() == 4 else a[:, :, None]
    grams = torch.bmm(flat, flat.transpose(1, 2)).flatten(1)
    grams = F.normalize(grams, dim=1)
    sim = grams @ grams.T
    return (sim.sum() - sim.diagonal().sum()) / n


def total_variation(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def to_pil(x: torch.Tensor) -> list[Image.Image]:
    a = (x.detach().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
    return [Image.fromarray(im) for im in a]


class _Model:
    """The layers the objective reads, the model's normalisation, and measuring a saved image."""

    def __init__(self, loaded: LoadedModel, objective: Objective, diverse: bool, device: str = "cpu", *,
                 redirect: bool = False):
        self.loaded, self.objective = loaded, objective
        self.device = torch.device(device)
        graph = model_graph(loaded)
        layers = [objective.layer] if objective.layer else []
        # batch norms folded (the same function of the input) and channels-last: ~2x faster on the CPU
        self.net = graph.gradient_model(layers, fold_bn=True).to(self.device, memory_format=torch.channels_last)
        if redirect:  # silent units can wake up (Lucid's redirected ReLU gradient)
            from .redirect import redirect_relus

            redirect_relus(self.net)
        self.plain = graph.extractor(layers, logits=True).to(self.device)
        pre = loaded.preprocess
        self.size = pre.crop
        self.mean = torch.tensor(pre.mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(pre.std, device=self.device).view(1, 3, 1, 1)
        self.diverse = diverse and objective.layer is not None

    def inputs(self, image01: torch.Tensor) -> torch.Tensor:
        """[0, 1] images of any size -> the network's normalised input."""
        if image01.shape[-1] != self.size:
            image01 = F.interpolate(image01, size=(self.size, self.size), mode="bilinear", align_corners=False,
                                    antialias=True)
        return ((image01 - self.mean) / self.std).contiguous(memory_format=torch.channels_last)

    def forward(self, image01: torch.Tensor) -> dict:
        return self.net(self.inputs(image01))

    @torch.no_grad()
    def measure(self, images: list[Image.Image]) -> list[float]:
        """The objective of saved images, through the model's own preprocessing (as any photo)."""
        x = torch.stack([self.loaded.preprocess(im) for im in images]).to(self.device)
        return [float(v) for v in _values(self.plain(x), self.objective)]


def cache_key(loaded: LoadedModel, objective: Objective, settings: Settings) -> str:
    text = json.dumps([loaded.name, loaded.weights_id, loaded.preprocess.to_dict(), asdict(objective),
                       asdict(settings), 1], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def visualise(loaded: LoadedModel, objective: Objective, settings: Settings = Settings(), *,
              cache: bool = True, every: int = 16, device: str = "cpu") -> Work[Visualisation]:
    """Optimise `settings.images` images for `objective`; partial images stream every `every` steps.

    Results are kept per (model, weights, objective, settings) in the app's cache: asking again
    costs a file read (`cache=False` always optimises).
    """
    check(loaded, objective)
    if settings.steps < 1 or settings.images < 1 or settings.lr <= 0:
        raise ExplorerError("steps, images and the learning rate must be positive.")
    size = settings.size or loaded.preprocess.crop
    settings = replace(settings, size=size)
    key = cache_key(loaded, objective, settings)
    if cache:
        found = _read_cache(key, objective, settings)
        if found is not None:
            return found
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(settings.seed)
    kind = FourierImage if settings.fourier else PixelImage
    image = kind(settings.images, size, generator=g, **({"decorrelate": settings.decorrelate}
                                                          if settings.fourier else {}))
    image = image.to(device)  # initialised on the CPU: the same start on every device
    model = _Model(loaded, objective, settings.images > 1 and settings.diversity > 0, device,
                   redirect=settings.redirect)
    with torch.no_grad():
        start = model.measure(to_pil(image()))
    optimiser = torch.optim.Adam(image.parameters(), lr=settings.lr)
    for step in range(1, settings.steps + 1):
        with torch.enable_grad():
            x = image()
            seen = transforms.standard(x, g) if settings.transforms else x
            out = model.forward(seen)
            value = _values(out, objective)
            loss = -value.mean()
            if settings.tv:
                loss = loss + settings.tv * total_variation(x) * x.shape[0]
            if settings.l2:
                loss = loss + settings.l2 * ((x - 0.5) ** 2).mean() * x.shape[0]
            if model.diverse:
                loss = loss + settings.diversity * _diversity(out[objective.layer])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if step % every == 0 or step == settings.steps:
            with torch.no_grad():
                partial = to_pil(image())
            yield Step(step, settings.steps, f"{objective.describe(loaded.categories)}: {float(value.detach().mean()):.3g}",
                       partial=partial)
    with torch.no_grad():
        images = to_pil(image())
    values = model.measure(images)
    result = Visualisation(objective, settings, images, start[0], values[0], values, time.perf_counter() - t0)
    if cache:
        _write_cache(key, result)
    return result


def _folder():
    from ...run.cache import cache_root

    return cache_root() / "featurevis"


def _read_cache(key: str, objective: Objective, settings: Settings) -> Visualisation | None:
    folder = _folder()
    meta = folder / f"{key}.json"
    try:
        data = json.loads(meta.read_text())
        images = [Image.open(folder / f"{key}-{i}.png").convert("RGB") for i in range(settings.images)]
    except (OSError, ValueError):
        return None
    return Visualisation(objective, settings, images, data["objective_start"], data["objective_end"], data["values"],
                         data["seconds"], cached=True)


def _write_cache(key: str, result: Visualisation) -> None:
    """Images first, the JSON last (atomically): a JSON means the images are complete."""
    from ...run.files import write_atomic, write_atomic_with

    folder = _folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for i, im in enumerate(result.images):
            write_atomic_with(folder / f"{key}-{i}.png", lambda f, im=im: im.save(f, format="PNG"))
        write_atomic(folder / f"{key}.json", json.dumps({
            "objective_start": result.objective_start, "objective_end": result.objective_end,
            "values": result.values, "seconds": result.seconds}))
    except OSError:  # a read-only or full cache only costs the next request its time
        pass


def measure_jittered(loaded: LoadedModel, objective: Objective, image: Image.Image, *, n: int = 16,
                     seed: int = 1) -> float:
    """The mean objective of `image` under n seeded random transforms (pad, jitter, scale, rotation):
    how much of the value survives moving the picture, which an unregularised result does not."""
    model = _Model(loaded, objective, False)
    g = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.asarray(image.convert("RGB").resize((model.size, model.size)), np.float32) / 255.0)
    x = x.permute(2, 0, 1)[None].to(model.device)
    values = []
    with torch.no_grad():
        for _ in range(n):
            values.append(float(_values(model.plain(model.inputs(transforms.standard(x, g))), objective)[0]))
    return float(np.mean(values))
