"""Search and metadata colourings, checked against computations written out independently here."""

import numpy as np
import pytest

from explorer.core.analysis import metadata as md
from explorer.core.analysis.colours import RAMP_STEPS, UNLABELLED, class_colour, ramp
from explorer.core.session import Session, combine_selection

DESIGNS = ("flat", "line", "solid")
OBJECTS = ("cat", "cup", "car", "key")
PATHS = [f"{o}/{d}_{o}_{s}.png" for o in OBJECTS for d in DESIGNS for s in (16, 32)]


def test_search_by_substring_and_regex_matches_a_plain_loop():
    names = [p.split("/")[-1] for p in PATHS]
    for query in ("CAT", "_16", "line_c", "zzz"):
        expected = [i for i, n in enumerate(names) if query.lower() in n.lower()]
        assert md.search_paths(PATHS, query).tolist() == expected
    # the folder is only searched with whole_path
    assert md.search_paths(PATHS, "cup/").tolist() == []
    assert md.search_paths(PATHS, "cup/", whole_path=True).tolist() == [i for i, p in enumerate(PATHS)
                                                                         if p.startswith("cup/")]
    expected = [i for i, n in enumerate(names) if n.startswith(("flat", "solid")) and n.endswith("32.png")]
    assert md.search_paths(PATHS, r"^(flat|solid)_.*32\.png$", regex=True).tolist() == expected


def test_a_bad_regex_is_one_clear_line():
    with pytest.raises(md.MetadataError, match=r"Not a valid regular expression: '\(cat'.*missing \)"):
        md.search_paths(PATHS, "(cat", regex=True)
    with pytest.raises(md.MetadataError, match="has 0 groups; group 1 asked for"):
        md.colour_by_regex(PATHS, "^[a-z]+_")


def test_regex_group_colouring_gives_the_design_prefix():
    c = md.colour_by_regex(PATHS, r"^([a-z]+)_")
    designs = [p.split("/")[-1].split("_")[0] for p in PATHS]  # independent: split on the first _
    cats = sorted(set(designs))
    assert [text for text, _, _ in c.legend] == cats
    assert [cats[k] for k in c.codes] == designs
    assert c.table[:3] == [class_colour(i) for i in range(3)] and c.table[-1] == UNLABELLED
    assert [n for _, _, n in c.legend] == [designs.count(d) for d in cats]
    assert not c.numeric and c.missing == 0
    # a pattern that does not match some names leaves them grey
    c = md.colour_by_regex(PATHS, r"^(solid|line)_")
    grey = len(c.table) - 1
    assert [k == grey for k in c.codes] == [d == "flat" for d in designs] and c.missing == 8


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_columns_numbers_get_a_ramp_text_gets_categories(tmp_path):
    root = tmp_path / "icons"
    sizes = {p: 16 if "_16" in p else 32 for p in PATHS}
    lines = ["path,size,maker"]
    for i, p in enumerate(PATHS[:20]):  # 4 images not in the CSV; half the paths absolute
        name = str(root / p) if i % 2 else p
        lines.append(f"{name},{sizes[p] * (i + 1)},{'acme' if i % 3 else 'bolt'}")
    csv = write(tmp_path / "meta.csv", "\n".join(lines) + "\n")
    c = md.colour_by_csv(PATHS, str(root), str(csv), "size")
    assert c.numeric and c.missing == 4
    values = np.array([sizes[p] * (i + 1) for i, p in enumerate(PATHS[:20])], float)
    lo, hi = values.min(), values.max()
    expected = np.round((values - lo) / (hi - lo) * (RAMP_STEPS - 1)).astype(int)  # independent ramp steps
    assert c.codes[:20].tolist() == expected.tolist() and (c.codes[20:] == RAMP_STEPS).all()
    assert c.table[:RAMP_STEPS] == ramp() and c.table[RAMP_STEPS] == UNLABELLED
    c = md.colour_by_csv(PATHS, str(root), str(csv), "maker")
    assert not c.numeric and [t for t, _, _ in c.legend] == ["acme", "bolt", "no value"]
    makers = ['acme' if i % 3 else 'bolt' for i in range(20)]
    assert [["acme", "bolt"][k] for k in c.codes[:20]] == makers


def test_bad_csvs_name_the_file_and_row(tmp_path):
    root = "/data/icons"
    cases = {
        "short.csv": ("path,design\ncat/flat_cat_16.png,flat\ncat/line_cat_16.png\n", r"short.csv row 3: 1 fields"),
        "twice.csv": ("path,d\ncat/flat_cat_16.png,a\ncat/flat_cat_16.png,b\n", r"twice.csv row 3: .* listed twice"),
        "empty.csv": ("", r"empty.csv is empty"),
        "one.csv": ("path\ncat/flat_cat_16.png\n", r"one.csv row 1: the header needs a path column"),
        "other.csv": ("path,d\nelsewhere/x.png,a\n", r"None of the 1 paths in other.csv names an image"),
    }
    for name, (text, message) in cases.items():
        with pytest.raises(md.MetadataError, match=message):
            md.colour_by_csv(PATHS, root, str(write(tmp_path / name, text)))
    ok = write(tmp_path / "ok.csv", "path,d\ncat/flat_cat_16.png,a\nnowhere.png,b\n")
    with pytest.raises(md.MetadataError, match=r"ok.csv has no column 'x' \(it has d\)"):
        md.colour_by_csv(PATHS, root, str(ok), "x")
    c = md.colour_by_csv(PATHS, root, str(ok), "d")
    assert c.notes == ["1 row of ok.csv names no image of this dataset (first: row 3)"]
    with pytest.raises(md.MetadataError, match=r"Cannot read .*missing.csv"):
        md.colour_by_csv(PATHS, root, str(tmp_path / "missing.csv"))


def test_selection_operations_match_set_algebra():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = set(rng.integers(0, 30, 10).tolist()), set(rng.integers(0, 30, 10).tolist())
        assert combine_selection(a, b, "add") == sorted(a | b)
        assert combine_selection(a, b, "intersect") == sorted(a & b)
        assert combine_selection(a, b, "subtract") == sorted(a - b)
        assert combine_selection(a, list(b), "replace") == list(dict.fromkeys(b))
    with pytest.raises(ValueError, match="Unknown selection mode 'xor'"):
        combine_selection([1], [2], "xor")


def test_session_colour_by_metadata_then_a_channel_then_back():
    s = Session()
    c = md.colour_by_regex(PATHS, r"^([a-z]+)_")
    s.set_colour_by(c)
    codes, table = s.colour_scheme()
    assert codes is c.codes and table == c.table
    s.colour_channel = 3
    s.set_colour_by(None)
    assert s.colour_by is None
