"""Session files: what a researcher set up (dataset, model, layer, projection settings, selections,
colouring, map style) saved as JSON and reopened later, in the app or a script.

Selections are kept as file paths (relative to the dataset), not row numbers, so a file stays
right when images are added to the folder. Opening is two steps: `read_session` checks the file
and gives the settings to set before the pipeline runs; once a run is on display,
`resolve(saved, run)` turns paths back into rows (pure, may run in a worker) and
`apply_resolved(session, resolved)` sets them.

    save_session("study.explorer.json", session)
    saved = read_session("study.explorer.json")
    session.update(**saved.settings)            # then embed and project as usual
    apply_resolved(session, resolve(saved, session.run))
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

from .analysis.projection import METHODS
from .errors import ExplorerError
from .session import SELECTION_MODES, Session

FORMAT = "cnn-feature-explorer session"
VERSION = 1
SUFFIX = ".explorer.json"


class SessionFileError(ExplorerError):
    """A session file that cannot be read: one line naming the file and what is wrong."""


@dataclass
class SavedSession:
    path: str
    settings: dict  # Session fields to set before the pipeline runs
    selection: list = field(default_factory=list)  # relative paths
    named_selections: dict = field(default_factory=dict)  # name -> relative paths
    hidden_classes: list = field(default_factory=list)  # class names
    colouring: dict = field(default_factory=lambda: {"by": "label"})


@dataclass
class Resolved:
    selection: list
    named_selections: dict
    hidden_classes: frozenset
    colouring: object  # analysis.metadata.Colouring or None
    channel: int | None
    notes: list  # what could not be restored, one line each
    measure: str = "auto"  # what a channel colouring ranks by (analysis.measures)


# --- writing ----------------------------------------------------------------------------------------
def session_to_dict(session: Session) -> dict:
    run = session.run
    paths = [r.path for r in run.rows] if run is not None else []

    def named(indices):
        return [paths[i] for i in indices if i < len(paths)]

    if session.colour_channel is not None:
        colouring = {"by": "channel", "channel": int(session.colour_channel), "measure": session.colour_measure}
    elif session.colour_by is not None:
        colouring = dict(session.colour_by.spec)
    else:
        colouring = {"by": "label"}
    return {
        "format": FORMAT, "version": VERSION,
        "dataset": session.dataset, "model": session.model, "weights": session.weights,
        "layer": session.layer or (run.layer if run is not None else None),
        "projection": {"method": session.projection, "perplexity": session.perplexity, "seed": session.seed},
        "selection": named(session.selection),
        "named_selections": {k: named(v) for k, v in session.named_selections.items()},
        "hidden_classes": [session.classes[c] if 0 <= c < len(session.classes) else "" for c in
                           sorted(session.hidden_classes)],
        "colouring": colouring,
        "map": {"point_size": session.point_size, "point_opacity": session.point_opacity,
                "density_view": session.density_view, "selection_mode": session.selection_mode,
                "neighbour_k": session.neighbour_k},
    }


def save_session(path: str | os.PathLike, session: Session) -> None:
    """Write the session as JSON (a temporary file renamed over the target: never half-written)."""
    path = str(path)
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(session_to_dict(session), f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise SessionFileError(f"Cannot write {path}: {e.strerror or e}") from None


# --- reading ----------------------------------------------------------------------------------------
def read_session(path: str | os.PathLike) -> SavedSession:
    path = str(path)
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise SessionFileError(f"Cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise SessionFileError(f"{name} is not a session file (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise SessionFileError(f"{name} is not a session file: not valid JSON (line {e.lineno}, column "
                               f"{e.colno}: {e.msg})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SessionFileError(f"{name} is not a CNN Feature Explorer session file (no \"format\": \"{FORMAT}\")")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SessionFileError(f"{name}: 'version' must be a whole number, got {version!r}")
    if version > VERSION:
        raise SessionFileError(f"{name} was written by a newer version of the app (session format {version}); "
                               f"this one reads format {VERSION}: update the app")

    def get(key, kind, default, where=data):
        value = where.get(key, default)
        if value is None and default is None:
            return None
        ok = (isinstance(value, kind) and not isinstance(value, bool)) if kind in ((int, float), int) \
            else isinstance(value, kind)
        if not ok:
            wanted = {str: "text", bool: "true or false", list: "a list", dict: "an object"}.get(kind, "a number")
            raise SessionFileError(f"{name}: {key!r} must be {wanted}, got {value!r}")
        return value

    dataset = get("dataset", str, "")
    if not dataset:
        raise SessionFileError(f"{name}: 'dataset' is missing: which folder (or demo:NAME) the session explores")
    proj = get("projection", dict, {})
    method = get("method", str, "tsne", proj)
    if method not in METHODS:
        raise SessionFileError(f"{name}: projection method {method!r} is not one of {', '.join(METHODS)}")
    perplexity = float(get("perplexity", (int, float), 30.0, proj))
    if not math.isfinite(perplexity) or perplexity <= 0:
        raise SessionFileError(f"{name}: perplexity must be a positive number, got {perplexity!r}")
    view = get("map", dict, {})
    mode = get("selection_mode", str, "replace", view)
    if mode not in SELECTION_MODES:
        raise SessionFileError(f"{name}: selection_mode {mode!r} is not one of {', '.join(SELECTION_MODES)}")
    settings = {"dataset": dataset, "model": get("model", str, Session.model.default),
                "weights": get("weights", str, None), "layer": get("layer", str, None),
                "projection": method, "perplexity": perplexity, "seed": int(get("seed", int, 0, proj)),
                "point_size": int(get("point_size", (int, float), 7, view)),
                "point_opacity": float(get("point_opacity", (int, float), 0.9, view)),
                "density_view": bool(get("density_view", bool, False, view)), "selection_mode": mode,
                "neighbour_k": int(get("neighbour_k", int, 12, view))}
    named = get("named_selections", dict, {})
    for k, v in named.items():
        if not isinstance(v, list) or not all(isinstance(p, str) for p in v):
            raise SessionFileError(f"{name}: named selection {k!r} must be a list of paths")
    selection = get("selection", list, [])
    hidden = get("hidden_classes", list, [])
    if not all(isinstance(p, str) for p in selection + hidden):
        raise SessionFileError(f"{name}: 'selection' and 'hidden_classes' must be lists of text")
    colouring = get("colouring", dict, {"by": "label"})
    if colouring.get("by", "label") not in ("label", "regex", "csv", "channel", "prediction", "probe"):
        raise SessionFileError(f"{name}: colouring {colouring.get('by')!r} is not one of label, regex, csv, channel, "
                               "prediction, probe")
    return SavedSession(path, settings, selection, named, hidden, colouring)


# --- back onto a run ------------------------------------------------------------------------------------
def resolve(saved: SavedSession, run) -> Resolved:
    """Paths and class names back to this run's rows and codes; what is gone is named in the notes."""
    from .analysis import metadata

    paths = [r.path for r in run.rows]
    row = {p: i for i, p in enumerate(paths)}
    notes = []

    def rows(listed, what):
        found = [row[p] for p in listed if p in row]
        if len(found) < len(listed):
            notes.append(f"{len(listed) - len(found):,} of the {len(listed):,} images of {what} are no longer in "
                         "the dataset")
        return found

    selection = rows(saved.selection, "the selection")
    named = {k: tuple(rows(v, f"“{k}”")) for k, v in saved.named_selections.items()}
    classes = sorted({r.label for r in run.rows if r.label})
    hidden = frozenset(classes.index(c) if c in classes else -1 for c in saved.hidden_classes
                       if c in classes or c == "")
    colouring, channel, measure = None, None, "auto"
    spec = saved.colouring
    if spec.get("by") == "channel":
        channel = spec.get("channel") if isinstance(spec.get("channel"), int) else None
        measure = spec.get("measure") if spec.get("measure") in ("auto", "max", "mean") else "auto"
    elif spec.get("by") in ("regex", "csv"):
        try:
            colouring = metadata.colouring_from_spec(spec, paths, None, getattr(run, "dataset_root", None))
        except metadata.MetadataError as e:
            notes.append(f"The colouring was not restored: {e}")
    elif spec.get("by") == "prediction":  # the run's stored predictions (issue 12)
        from .analysis.prediction_colours import colour_by_prediction

        try:
            colouring = colour_by_prediction(run, str(spec.get("what", "class")), spec.get("mapping"))
        except (metadata.MetadataError, ExplorerError) as e:
            notes.append(f"The colouring was not restored: {e}")
    elif spec.get("by") == "probe":  # a kept probe of the run (issue 12): found again by layer and classifier
        from .analysis.probe_files import newest_probe, probe_colouring

        found = newest_probe(run, str(spec.get("layer")), str(spec.get("classifier")))
        if found is None:
            notes.append(f"The colouring was not restored: the run keeps no current {spec.get('classifier')} probe "
                         f"of {spec.get('layer')} (probe the blocks again).")
        else:
            colouring = probe_colouring(run, found, "right" if spec.get("what") == "right" else "class")
    return Resolved(selection, named, hidden, colouring, channel, notes, measure)


def apply_resolved(session: Session, resolved: Resolved) -> None:
    with session.changes():
        session.named_selections = resolved.named_selections
        session.hidden_classes = resolved.hidden_classes
        session.selection = resolved.selection
    if resolved.channel is not None:
        session.set_colour_channel(resolved.channel, measure=resolved.measure)
    else:
        session.set_colour_by(resolved.colouring)
