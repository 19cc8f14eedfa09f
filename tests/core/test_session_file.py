"""Session files: a round trip restores what was set up, rows follow paths, bad files are one line."""

import json
from dataclasses import dataclass

import numpy as np
import pytest

from explorer.core.analysis import metadata as md
from explorer.core.session import Session
from explorer.core.session_file import (SessionFileError, apply_resolved, read_session, resolve, save_session,
                                        session_to_dict)


@dataclass
class Row:
    index: int
    path: str
    label: str | None


class Run:
    layer = "layer3"
    dataset_root = "/data/icons"

    def __init__(self, paths):
        self.rows = [Row(i, p, p.split("/")[0]) for i, p in enumerate(paths)]


PATHS = [f"{o}/{d}_{o}.png" for o in ("cat", "cup", "key") for d in ("flat", "line")]


def set_up(session, run):
    session.update(dataset="/data/icons", model="resnet18", weights="random", projection="pca", perplexity=12.0,
                   seed=4, point_size=11, point_opacity=0.5, density_view=True, selection_mode="subtract",
                   neighbour_k=7)
    session.set_run(run)
    session.select([1, 4])
    session.save_selection("flat ones")  # saved before the selection changes
    session.named_selections = {"flat ones": (0, 2, 4), "cups": (2, 3)}
    session.hidden_classes = frozenset({2})
    session.set_colour_by(md.colour_by_regex([r.path for r in run.rows], r"^([a-z]+)_"))


def test_a_session_file_round_trip_restores_settings_selections_and_colouring(tmp_path):
    first = Session()
    set_up(first, Run(PATHS))
    path = tmp_path / "study.explorer.json"
    save_session(path, first)
    data = json.loads(path.read_text())
    assert data["selection"] == [PATHS[1], PATHS[4]]  # paths, not row numbers
    assert data["colouring"] == {"by": "regex", "pattern": r"^([a-z]+)_", "group": 1, "whole_path": False}

    saved = read_session(path)
    second = Session()
    second.update(**saved.settings)
    # images added to the folder since: the rows move, the paths still name the same images
    moved = ["a/new.png"] + PATHS[:3] + ["cup/extra_cup.png"] + PATHS[3:]
    run = Run(moved)
    second.set_run(run)
    apply_resolved(second, resolve(saved, run))
    index = {p: i for i, p in enumerate(moved)}
    assert second.selection == sorted(index[PATHS[i]] for i in (1, 4))
    assert second.named_selections == {"flat ones": tuple(index[PATHS[i]] for i in (0, 2, 4)),
                                       "cups": tuple(index[PATHS[i]] for i in (2, 3))}
    classes = sorted({p.split("/")[0] for p in moved})
    assert second.hidden_classes == {classes.index("key")}
    for name in ("dataset", "model", "weights", "layer", "projection", "perplexity", "seed", "point_size",
                 "point_opacity", "density_view", "selection_mode", "neighbour_k"):
        assert getattr(second, name) == getattr(first, name), name
    names = [p.split("/")[-1] for p in moved]
    designs = [n.split("_")[0] if "_" in n else "no value" for n in names]  # independent: the prefix before _
    cats = [t for t, _, _ in second.colour_by.legend]
    assert [cats[c] for c in second.colour_by.codes] == designs
    # what is written again is what was read (nothing lost on a second round)
    again = session_to_dict(second)
    assert again["selection"] == data["selection"] and again["named_selections"] == data["named_selections"]
    assert again["colouring"] == data["colouring"] and again["hidden_classes"] == ["key"]


def test_images_gone_since_are_named_and_a_channel_colouring_is_kept(tmp_path):
    first = Session()
    set_up(first, Run(PATHS))
    first.set_colour_channel(5, np.zeros(len(PATHS), np.int64), measure="mean")
    save_session(tmp_path / "s.json", first)
    saved = read_session(tmp_path / "s.json")
    resolved = resolve(saved, Run(PATHS[2:]))
    assert resolved.channel == 5 and resolved.colouring is None
    assert resolved.measure == "mean"  # the measure the map was coloured by comes back with it
    assert "1 of the 2 images of the selection are no longer in the dataset" in resolved.notes


@pytest.mark.parametrize("text, message", [
    ("{not json", r"bad.json is not a session file: not valid JSON \(line 1, column 2"),
    ('{"dataset": "x"}', r"bad.json is not a CNN Feature Explorer session file"),
    ('{"format": "cnn-feature-explorer session", "version": 9, "dataset": "x"}',
     r"bad.json was written by a newer version of the app \(session format 9\)"),
    ('{"format": "cnn-feature-explorer session", "version": 1}', r"bad.json: 'dataset' is missing"),
    ('{"format": "cnn-feature-explorer session", "version": 1, "dataset": "x", "projection": {"perplexity": "a"}}',
     r"bad.json: 'perplexity' must be a number, got 'a'"),
    ('{"format": "cnn-feature-explorer session", "version": 1, "dataset": "x", "selection": [1, 2]}',
     r"'selection' and 'hidden_classes' must be lists of text"),
    ('{"format": "cnn-feature-explorer session", "version": 1, "dataset": "x", "colouring": {"by": "mood"}}',
     r"colouring 'mood' is not one of label, regex, csv, channel"),
])
def test_bad_and_newer_session_files_are_one_line(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(SessionFileError, match=message):
        read_session(path)


def test_a_missing_file_and_an_unwritable_folder_are_named(tmp_path):
    with pytest.raises(SessionFileError, match=r"Cannot read .*nothing.json"):
        read_session(tmp_path / "nothing.json")
    with pytest.raises(SessionFileError, match=r"Cannot write .*no-such-folder"):
        save_session(tmp_path / "no-such-folder" / "s.json", Session())
