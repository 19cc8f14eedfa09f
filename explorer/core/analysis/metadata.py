"""Metadata of the images on the map: search by file name, and colourings by any per-image value.

Pure functions of the run's relative paths (`run.rows[i].path`, '/'-separated), so a script
colours and searches exactly as the app does:

    matches = search_paths(paths, "cat_")                       # (m,) item indices
    colouring = colour_by_regex(paths, r"^([a-z]+)_")           # the file-name prefix as a category
    colouring = colour_by_csv(paths, root, "meta.csv", "year")  # a column of the user's CSV

A colouring holds codes into a colour table (the session's palette for categories, its ramp for
numbers), one grey entry for the images without a value, and the legend to draw.
"""

from __future__ import annotations

import csv
import math
import os
import posixpath
import re
from dataclasses import dataclass, field

import numpy as np

from .colours import RAMP_STEPS, UNLABELLED, class_colour, ramp

PATH_COLUMNS = ("path", "file", "filename", "file_name", "image")


class MetadataError(ValueError):
    """Bad input for a search or a colouring: one line naming the value, file or row."""


def file_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _targets(paths, whole_path: bool) -> list[str]:
    return [str(p) if whole_path else file_name(str(p)) for p in paths]


def compile_pattern(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise MetadataError(f"Not a valid regular expression: {pattern!r} ({e})") from None


def search_paths(paths, query: str, *, regex: bool = False, whole_path: bool = False) -> np.ndarray:
    """(m,) int64 indices of the paths whose file name (or whole relative path) contains `query`
    (case-insensitive), or in which the regular expression `query` is found (as written)."""
    targets = _targets(paths, whole_path)
    if not query:
        return np.zeros(0, np.int64)
    if regex:
        found = compile_pattern(query).search
        return np.array([i for i, t in enumerate(targets) if found(t)], np.int64)
    q = query.casefold()
    return np.array([i for i, t in enumerate(targets) if q in t.casefold()], np.int64)


@dataclass(frozen=True)
class Colouring:
    """How to colour each image: codes (n,) int64 into `table`; the last entry of the table is the
    grey of the images without a value. `spec` says how it was made (it is what a session file keeps)."""

    spec: dict
    title: str
    codes: np.ndarray
    table: list
    legend: list  # (text, rgb, count) per entry worth showing
    numeric: bool = False
    missing: int = 0  # images without a value
    notes: list = field(default_factory=list)  # things the user should know (rows naming no image …)

    def __eq__(self, other):  # compared by identity, like the session's arrays
        return self is other

    __hash__ = object.__hash__


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def colour_by_values(values: list, spec: dict, title: str, notes: list | None = None) -> Colouring:
    """Categories, or a ramp when every value present is a number; None or '' is 'no value' (grey)."""
    present = [v for v in values if v is not None and v != ""]
    missing = len(values) - len(present)
    numbers = [_number(str(v)) for v in values]  # None for no value and for text
    if present and sum(n is not None for n in numbers) == len(present):
        x = np.array([np.nan if n is None else n for n in numbers], np.float64)
        lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
        scaled = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
        steps = np.clip(np.round(np.nan_to_num(scaled) * (RAMP_STEPS - 1)), 0, RAMP_STEPS - 1).astype(np.int64)
        codes = np.where(np.isnan(x), RAMP_STEPS, steps)
        table = ramp() + [UNLABELLED]
        legend = [(f"{lo:g} (low)", table[0], int((codes == 0).sum())),
                  (f"{hi:g} (high)", table[RAMP_STEPS - 1], int((codes == RAMP_STEPS - 1).sum()))]
        if missing:
            legend.append(("no value", UNLABELLED, missing))
        return Colouring(spec, title, codes, table, legend, True, missing, list(notes or []))
    categories = sorted({str(v) for v in present})
    index = {c: i for i, c in enumerate(categories)}
    k = len(categories)
    codes = np.array([k if v is None or v == "" else index[str(v)] for v in values], np.int64)
    counts = np.bincount(codes, minlength=k + 1)
    table = [class_colour(i) for i in range(k)] + [UNLABELLED]
    legend = [(c, table[i], int(counts[i])) for i, c in enumerate(categories)]
    if missing:
        legend.append(("no value", UNLABELLED, missing))
    return Colouring(spec, title, codes, table, legend, False, missing, list(notes or []))


def colour_by_label(labels) -> Colouring:
    return colour_by_values(list(labels), {"by": "label"}, "label")


def colour_by_regex(paths, pattern: str, *, group: int | str = 1, whole_path: bool = False) -> Colouring:
    """The text a regular expression's group captures in each file name (or relative path)."""
    rx = compile_pattern(pattern)
    if isinstance(group, str) and group.isdigit():
        group = int(group)
    if isinstance(group, int) and group > rx.groups:
        raise MetadataError(f"{pattern!r} has {rx.groups} group{'s' if rx.groups != 1 else ''}; "
                            f"group {group} asked for (write a group in parentheses, e.g. ^([a-z]+)_)")
    if isinstance(group, str) and group not in rx.groupindex:
        raise MetadataError(f"{pattern!r} has no group named {group!r}")
    values = []
    for t in _targets(paths, whole_path):
        m = rx.search(t)
        values.append(m.group(group) if m else None)
    spec = {"by": "regex", "pattern": pattern, "group": group, "whole_path": whole_path}
    return colour_by_values(values, spec, f"{pattern} (group {group})")


# --- a CSV of the user's: path -> values ----------------------------------------------------------
@dataclass
class MetadataTable:
    file: str
    columns: list  # value columns (the path column excluded)
    path_column: str
    rows: dict  # normalised path -> (row number, [value per column of `columns`])


def _key(path: str) -> str:
    """A path as the CSV and the run both write it: '/'-separated, no './', '//' or 'a/../'."""
    p = path.strip()
    if "\\" in p:
        p = p.replace("\\", "/")
    if "//" in p or "/." in p or p.startswith("."):  # the common clean path skips normpath (1M rows: seconds)
        p = posixpath.normpath(p)
    return p


def read_metadata_csv(csv_path: str) -> MetadataTable:
    """Read a CSV whose header names a path column ('path', 'file', … or the first) and value columns."""
    name = os.path.basename(str(csv_path))
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except OSError as e:
        raise MetadataError(f"Cannot read {csv_path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise MetadataError(f"{csv_path} is not UTF-8 text (save it as CSV UTF-8)") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    lines = list(csv.reader(text.splitlines(), dialect))
    lines = [(n, r) for n, r in enumerate(lines, 1) if len(r) > 1 or (r and r[0].strip())]  # blank lines out
    if not lines:
        raise MetadataError(f"{name} is empty: it needs a header row (path, column, …) and one row per image")
    header = [h.strip() for h in lines[0][1]]
    if len(header) < 2:
        raise MetadataError(f"{name} row {lines[0][0]}: the header needs a path column and at least one value "
                            f"column, e.g. 'path,design' (read {header!r})")
    lower = [h.lower() for h in header]
    p = next((lower.index(c) for c in PATH_COLUMNS if c in lower), 0)
    rows = {}
    for number, row in lines[1:]:
        if len(row) != len(header):
            raise MetadataError(f"{name} row {number}: {len(row)} fields, the header has {len(header)}")
        key = _key(row[p])
        if not row[p].strip():
            raise MetadataError(f"{name} row {number}: the {header[p]!r} column is empty")
        if key in rows:
            raise MetadataError(f"{name} row {number}: {row[p].strip()!r} is listed twice (also row {rows[key][0]})")
        rows[key] = (number, [v.strip() for j, v in enumerate(row) if j != p])
    if not rows:
        raise MetadataError(f"{name} has a header but no rows")
    return MetadataTable(str(csv_path), [h for j, h in enumerate(header) if j != p], header[p], rows)


def colour_by_csv(paths, root: str | None, csv_path: str, column: str | None = None,
                  table: MetadataTable | None = None) -> Colouring:
    """Colour by `column` of the CSV (default: its first value column). Its paths are relative to the
    dataset's root or absolute; images it does not name are grey."""
    table = table or read_metadata_csv(csv_path)
    name = os.path.basename(str(csv_path))
    column = column or table.columns[0]
    if column not in table.columns:
        raise MetadataError(f"{name} has no column {column!r} (it has {', '.join(table.columns)})")
    c = table.columns.index(column)
    values, used = [], set()
    absolute_root = root if root and os.path.isabs(str(root)) else None
    for p in paths:
        key = _key(str(p))
        hit = table.rows.get(key)
        if hit is None and absolute_root:
            key = _key(os.path.join(absolute_root, str(p)))
            hit = table.rows.get(key)
        if hit is not None:
            used.add(key)
        values.append(None if hit is None else hit[1][c])
    if not used:
        example = next(iter(table.rows))
        where = f"relative to {root} or absolute" if absolute_root else "relative to the dataset's root"
        raise MetadataError(f"None of the {len(table.rows):,} paths in {name} names an image of this dataset "
                            f"(e.g. {example!r}; paths are {where})")
    notes = []
    if len(used) < len(table.rows):
        unused = sorted((n for k, (n, _) in table.rows.items() if k not in used))
        one = len(unused) == 1
        notes.append(f"{len(unused):,} row{'' if one else 's'} of {name} name{'s' if one else ''} no image of "
                     f"this dataset (first: row {unused[0]})")
    spec = {"by": "csv", "file": str(csv_path), "column": column}
    return colour_by_values(values, spec, f"{column} ({name})", notes)


def colouring_from_spec(spec: dict, paths, labels, root: str | None) -> Colouring | None:
    """Rebuild a colouring from its spec (a session file's); None for the label colouring."""
    by = spec.get("by") if isinstance(spec, dict) else None
    if by in (None, "label"):
        return None
    if by == "regex":
        return colour_by_regex(paths, str(spec.get("pattern", "")), group=spec.get("group", 1),
                               whole_path=bool(spec.get("whole_path", False)))
    if by == "csv":
        return colour_by_csv(paths, root, str(spec.get("file", "")), spec.get("column"))
    raise MetadataError(f"Unknown colouring {by!r} (expected label, regex or csv)")
