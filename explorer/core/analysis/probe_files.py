"""Probe results kept in the run folder, so the map can be coloured by them and label issues listed later.

    probes/<classifier>-<id>/   predicted.npy   (n_images,) int32: out-of-fold class index, -1 not probed
                                probabilities.npy (n_images, K) float16: out-of-fold, per class (NaN: not probed)
                                result.json     settings, figures (accuracy, std, per-class recall, confusion),
                                                classes, and the rows digest the probe was computed from

A folder is written under a temporary name and renamed, so its files are committed together; the
run's own files are never touched. `probes/` goes with the run's projections when the run is
replaced or its file list changes (run.ownership.remove_projections).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from .probe import ProbeResult
from .kept_projections import rows_digest

FOLDER = "probes"


def _settings(layer: str, classifier: str, folds: int, seed: int, sample: int | None) -> dict:
    return {"layer": layer, "classifier": classifier, "folds": int(folds), "seed": int(seed),
            "sample": None if sample is None else int(sample)}


def probe_folder(run, layer: str, classifier: str, folds: int, seed: int, sample: int | None) -> Path:
    settings = _settings(layer, classifier, folds, seed, sample)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    return run.path / FOLDER / f"{classifier}-{digest}"


def save_probe(run, result: ProbeResult, *, asked_folds: int | None = None) -> Path:
    """Keep `result` in the run folder (replacing the same settings' older result); returns its folder."""
    from ..run.files import UMASK, replace_folder

    folds = asked_folds if asked_folds is not None else result.folds
    final = probe_folder(run, result.layer, result.classifier, folds, result.seed, result.sample)
    final.parent.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        os.chmod(tmp, 0o777 & ~UMASK)  # mkdtemp makes 0700
        n, k = len(run), len(result.classes)
        predicted = np.full(n, -1, np.int32)
        predicted[result.rows] = result.predicted
        probabilities = np.full((n, k), np.nan, np.float16)
        probabilities[result.rows] = result.probabilities
        np.save(tmp / "predicted.npy", predicted)
        np.save(tmp / "probabilities.npy", probabilities)
        record = dict(result.summary(), **_settings(result.layer, result.classifier, folds, result.seed,
                                                    result.sample),
                      folds_used=result.folds, rows=rows_digest(run), n_images=n,
                      created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), created_ns=time.time_ns())
        (tmp / "result.json").write_text(json.dumps(record), encoding="utf-8")
        replace_folder(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _read(run, folder: Path) -> ProbeResult | None:
    try:
        record = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("rows") != rows_digest(run) or record.get("n_images") != len(run):
            return None  # computed from another set of rows: the run was resumed or updated since
        predicted = np.load(folder / "predicted.npy")
        probabilities = np.load(folder / "probabilities.npy")
        classes = [str(c) for c in record["classes"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if predicted.shape != (len(run),) or probabilities.shape != (len(run), len(classes)):
        return None
    rows = np.flatnonzero(predicted >= 0)
    index = {name: i for i, name in enumerate(classes)}
    labels = run.labels
    if any(labels[i] not in index for i in rows):
        return None  # the labels changed since
    y = np.array([index[labels[i]] for i in rows], np.int64)
    return ProbeResult(record["layer"], record["classifier"], int(record.get("folds_used", record["folds"])),
                       int(record["seed"]), classes, rows, y, predicted[rows].astype(np.int64),
                       probabilities[rows].astype(np.float32), np.asarray(record["fold_accuracy"], np.float64),
                       int(record["n_features"]), float(record.get("seconds", 0.0)), record.get("sample"),
                       list(record.get("notes") or []))


def load_probe(run, layer: str, classifier: str, *, folds: int = 5, seed: int = 0,
               sample: int | None = None) -> ProbeResult | None:
    """The kept result for these settings, computed from exactly the run's current rows; else None."""
    return _read(run, probe_folder(run, layer, classifier, folds, seed, sample))


def list_probes(run) -> list[dict]:
    """The summaries of every kept probe that is current (computed from the run's rows now), newest first;
    each has `folder`."""
    root = run.path / FOLDER
    out = []
    for sub in sorted(root.iterdir()) if root.is_dir() else []:
        if sub.name.startswith(".") or ".old-" in sub.name or not sub.is_dir():
            continue
        try:
            record = json.loads((sub / "result.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("rows") == rows_digest(run):
            out.append(dict(record, folder=str(sub)))
    out.sort(key=lambda r: r.get("created_ns") or 0, reverse=True)
    return out


def newest_probe(run, layer: str, classifier: str) -> ProbeResult | None:
    """The newest kept probe of `classifier` on `layer` that is current (for a reopened session)."""
    for record in list_probes(run):
        if record.get("layer") == layer and record.get("classifier") == classifier:
            found = _read(run, Path(record["folder"]))
            if found is not None:
                return found
    return None


def predicted_labels(run, result: ProbeResult) -> list[str | None]:
    """Per run row, the out-of-fold predicted class name (None: not probed): colour the map by it."""
    out: list[str | None] = [None] * len(run)
    for i, p in zip(result.rows, result.predicted):
        out[int(i)] = result.classes[int(p)]
    return out


def probe_colouring(run, result: ProbeResult, what: str = "class"):
    """A map colouring (analysis.metadata.Colouring) from a probe: "class", its out-of-fold class in the
    colours the labels have (so a wrong prediction shows as a dot of another class's colour), or
    "right", whether it matches the label. Images not probed are grey."""
    from .colours import UNLABELLED, class_colour
    from .metadata import Colouring

    spec = {"by": "probe", "what": what, "layer": result.layer, "classifier": result.classifier}
    if what == "class":
        names = sorted({r.label for r in run.rows if r.label is not None})  # the label colouring's order
        codes = np.full(len(run), len(names), np.int64)
        index = {name: i for i, name in enumerate(names)}
        codes[result.rows] = [index[result.classes[int(p)]] for p in result.predicted]
        table = [class_colour(i) for i in range(len(names))] + [UNLABELLED]
        title = f"{result.classifier} probe on {result.layer}: out-of-fold class"
    else:
        names = ["right", "wrong"]
        codes = np.full(len(run), 2, np.int64)
        codes[result.rows] = np.where(result.predicted == result.y, 0, 1)
        table = [(70, 150, 70), (220, 50, 47), UNLABELLED]
        title = f"{result.classifier} probe on {result.layer}: out-of-fold right / wrong"
    counts = np.bincount(codes, minlength=len(table))
    legend = [(name, table[i], int(counts[i])) for i, name in enumerate(names) if counts[i]]
    missing = int(counts[-1])
    if missing:
        legend.append(("not probed", UNLABELLED, missing))
    return Colouring(spec, title, codes, table, legend, False, missing)
