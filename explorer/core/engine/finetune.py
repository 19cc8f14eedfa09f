"""Transfer learning the course's way: replace the output layer, train it (optionally the last blocks too).

`finetune(dataset, model, out=...)` splits the labelled images into train and validation sets
(stratified, seeded), puts a new head for the dataset's classes where the model's last Linear
layer was, and trains with the rest frozen. With `unfreeze=0` the frozen part runs once: the
head's inputs are computed for every image, then epochs cost milliseconds. With `unfreeze=N`
the last N units (top-level blocks, as the sanity check counts them) train too, at a tenth of the
head's learning rate, with every pass through the network; their batch norms keep their running
statistics (eval mode), which small batches would otherwise ruin.

Early stopping keeps the epoch with the best validation accuracy (ties: lower loss) and stops
after `patience` epochs without a better validation loss. The frozen linear probe (logistic
regression on the same head inputs, same split) is reported beside it, as the baseline a
fine-tuned head should beat. The checkpoint is the whole state dict plus the class names,
written atomically; `--weights CHECKPOINT` loads it (the head is resized to its classes).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.datasets import Dataset
from ..errors import DatasetError, ExplorerError
from ..model.heads import find_head, replace_head
from ..model.heads import units as model_units
from ..model.zoo import LoadedModel
from ..progress import Step, Work
from .embedding import resolve_device


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 20
    unfreeze: int = 0  # the last N units train with the head
    lr: float = 1e-3
    batch_size: int = 32
    val_fraction: float = 0.2
    patience: int = 5
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "auto"


@dataclass
class Epoch:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float


@dataclass
class FinetuneResult:
    classes: list[str]
    head: str  # the replaced layer's path
    trained: list[str]  # units trained besides the head
    n_train: int
    n_val: int
    epochs: list[Epoch] = field(default_factory=list)
    best_epoch: int = 0
    val_accuracy: float = 0.0
    probe_val_accuracy: float | None = None  # logistic regression on the frozen head inputs
    stopped_early: bool = False
    checkpoint: str = ""
    note: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def split(labels: list[str], val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/validation indices; every class keeps at least one image on each side."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    counts = {c: labels.count(c) for c in set(labels)}
    small = sorted(c for c, n in counts.items() if n < 2)
    if small:
        raise DatasetError(f"class {small[0]!r} has {counts[small[0]]} image; fine-tuning needs at least 2 per "
                           "class (one to train on, one to validate).")
    n_val = max(len(counts), int(round(val_fraction * len(labels))))
    if n_val > len(labels) - len(counts):
        raise DatasetError(f"{len(labels)} images in {len(counts)} classes are too few to keep a validation set "
                           "of one image per class and still train on every class.")
    train, val = train_test_split(idx, test_size=n_val, stratify=labels, random_state=seed)
    return np.sort(train), np.sort(val)


def finetune(dataset: Dataset, model: LoadedModel, *, out: str | Path,
             config: FinetuneConfig = FinetuneConfig()) -> Work[FinetuneResult]:
    labelled = [i for i, it in enumerate(dataset.items) if it.label is not None]
    labels = [dataset.items[i].label for i in labelled]
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise DatasetError(f"{dataset.root} has {len(classes)} labelled class; fine-tuning needs class "
                           "sub-folders (at least 2).")
    train, val = split(labels, config.val_fraction, config.seed)
    y = torch.tensor([classes.index(c) for c in labels])
    device = resolve_device(config.device)
    module = copy.deepcopy(model.module).eval()
    head_path = find_head(module, model.preprocess.crop)
    head = replace_head(module, head_path, len(classes), seed=config.seed)
    units = _trainable_units(module, head_path, config.unfreeze)
    module.requires_grad_(False)
    for path in [head_path, *units]:
        module.get_submodule(path).requires_grad_(True)
    module.to(device)
    result = FinetuneResult(classes, head_path, units, len(train), len(val))

    images = _Images(dataset, labelled, model)
    if not units:  # the frozen part runs once
        inputs = yield from _head_inputs(module, head_path, images, device, config.batch_size)
        result.probe_val_accuracy = _probe(inputs[train], y[train], inputs[val], y[val], config.seed)
        forward = lambda idx: head(inputs[idx].to(device))  # noqa: E731
    else:
        forward = lambda idx: module(images.batch(idx).to(device))  # noqa: E731
    params = [{"params": head.parameters(), "lr": config.lr}]
    if units:
        params.append({"params": [p for u in units for p in module.get_submodule(u).parameters()],
                       "lr": config.lr / 10})
    optimiser = torch.optim.AdamW(params, weight_decay=config.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(config.seed)
    best = (-1.0, math.inf)
    best_state, since_better, best_loss = None, 0, math.inf
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        order = rng.permutation(train)
        total, correct, seen = 0.0, 0, 0
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            with torch.enable_grad():
                logits = forward(idx)
                loss = loss_fn(logits, y[idx].to(logits.device))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            total += loss.item() * len(idx)
            correct += int((logits.detach().argmax(1).cpu() == y[idx]).sum())
            seen += len(idx)
            if units:
                yield Step(epoch - 1, config.epochs, f"epoch {epoch}: {seen}/{len(train)} images")
        val_loss, val_acc = _evaluate(forward, val, y, config.batch_size, loss_fn)
        report = Epoch(epoch, total / seen, correct / seen, val_loss, val_acc, time.perf_counter() - t0)
        result.epochs.append(report)
        if (val_acc, -val_loss) > (best[0], -best[1]):
            best = (val_acc, val_loss)
            best_state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
            result.best_epoch, result.val_accuracy = epoch, val_acc
        if val_loss < best_loss - 1e-6:
            best_loss, since_better = val_loss, 0
        else:
            since_better += 1
        yield Step(epoch, config.epochs, f"epoch {epoch}: val accuracy {val_acc:.3f}", partial=report)
        if since_better >= config.patience and epoch < config.epochs:
            result.stopped_early = True
            break
    result.note = _note(result)
    result.checkpoint = str(_save(best_state, classes, result, out))
    return result


def _trainable_units(module: nn.Module, head_path: str, n: int) -> list[str]:
    """The last `n` parameterised units below the head (top-level children, sequences opened)."""
    if n <= 0:
        return []
    units = [u for u in model_units(module) if not (u == head_path or head_path.startswith(u + "."))]
    if n > len(units):
        raise ExplorerError(f"--unfreeze {n}: the model has {len(units)} units below its head "
                            f"({', '.join(units[-3:])} are the last).")
    return units[-n:]


class _Images:
    """The labelled images as network inputs, decoded on demand (the CPU path has no loader pool)."""

    def __init__(self, dataset: Dataset, indices: list[int], model: LoadedModel):
        self.dataset, self.indices, self.preprocess = dataset, indices, model.preprocess

    def __len__(self):
        return len(self.indices)

    def batch(self, idx) -> torch.Tensor:
        out = []
        for i in idx:
            image, _ = self.dataset.load(self.indices[int(i)], draft_size=self.preprocess.resize)
            out.append(self.preprocess(image))
        return torch.stack(out)


def _head_inputs(module, head_path, images: _Images, device, batch_size) -> Work[torch.Tensor]:
    """(N, in_features) what the head reads for every image, from one pass of the frozen network."""
    captured = []
    hook = module.get_submodule(head_path).register_forward_pre_hook(
        lambda _m, args: captured.append(args[0].detach().float().cpu()))
    try:
        for start in range(0, len(images), batch_size):
            idx = range(start, min(start + batch_size, len(images)))
            with torch.no_grad():
                module(images.batch(idx).to(device))
            yield Step(start + len(idx), len(images), "features for the head")
    finally:
        hook.remove()
    return torch.cat(captured).flatten(1)


def _probe(x_train, y_train, x_val, y_val, seed) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    clf.fit(x_train.numpy(), y_train.numpy())
    return float(clf.score(x_val.numpy(), y_val.numpy()))


def _evaluate(forward, val, y, batch_size, loss_fn) -> tuple[float, float]:
    total, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(val), batch_size):
            idx = val[start:start + batch_size]
            logits = forward(idx)
            total += float(loss_fn(logits, y[idx].to(logits.device))) * len(idx)
            correct += int((logits.argmax(1).cpu() == y[idx]).sum())
    return total / len(val), correct / len(val)


def _note(result: FinetuneResult) -> str:
    probe = result.probe_val_accuracy
    if probe is None or result.val_accuracy > probe:
        return ""
    if min(probe, result.val_accuracy) >= 0.999:
        return (f"Both the fine-tuned head and the frozen linear probe classify all {result.n_val} validation "
                "images correctly: this split cannot tell them apart (more images would).")
    return (f"The fine-tuned head ({result.val_accuracy:.3f}) does not beat the frozen linear probe ({probe:.3f}) on "
            f"{result.n_val} validation images: a head alone is a linear classifier on the same features, so expect "
            "about the probe's accuracy; try more epochs, --unfreeze 1 or 2, or more images per class.")


def _save(state: dict | None, classes: list[str], result: FinetuneResult, out: str | Path) -> Path:
    """Written atomically: a cancelled or failed save leaves no half file."""
    from ..run.files import write_atomic_with

    out = Path(out).expanduser()
    if state is None:
        raise ExplorerError("no epoch finished, so there is no checkpoint to save.")
    meta = {k: v for k, v in result.to_json().items() if k not in ("epochs", "checkpoint")}
    write_atomic_with(out, lambda f: torch.save({"state_dict": state, "classes": list(classes),
                                                 "explorer_finetune": meta}, f))
    return out
