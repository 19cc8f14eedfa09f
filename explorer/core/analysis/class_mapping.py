"""Which of the model head's classes each folder label means, for accuracy.

A label maps to one or more class indices (any of them counts as right), found by, in this order:
a mapping CSV (label,class per row: an index, several joined by ';', a WordNet id or a class name);
a WordNet id (`n01440764`, the ImageNet folder layout); the class name; one of its WordNet synonyms
(`tabby` -> 'tabby cat'); the same without a plural 's'. A label naming several classes by synonym
(`crane`: the bird and the machine) is left unmapped and says so; the CSV settles it.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field

from ..data.imagenet_classes import CLASSES
from ..errors import ExplorerError

WNID = re.compile(r"^n\d{8}$")


@dataclass(frozen=True)
class LabelMapping:
    label: str
    classes: tuple[int, ...] = ()  # empty: not mapped (left out of the accuracy)
    how: str = ""  # "csv" | "wordnet id" | "name" | "synonym" | "" (not mapped)
    note: str = ""  # why not mapped

    def to_dict(self, name) -> dict:
        return {"classes": list(self.classes), "names": [name(c) for c in self.classes], "how": self.how or None,
                "note": self.note or None}


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[_\-]+", " ", text.strip().lower()).split())


@dataclass
class _Vocabulary:
    """Names (and for an ImageNet head, WordNet ids and synonyms) to class indices."""

    names: dict[str, int]
    wnids: dict[str, int] = field(default_factory=dict)
    synonyms: dict[str, set[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, categories: list[str] | None) -> "_Vocabulary":
        imagenet = categories is not None and list(categories) == [c[1] for c in CLASSES]
        names: dict[str, int] = {}
        for i, name in enumerate(categories or []):
            names.setdefault(normalise(name), i)
        vocab = cls(names)
        if imagenet:
            vocab.wnids = {c[0]: i for i, c in enumerate(CLASSES)}
            for i, c in enumerate(CLASSES):
                for lemma in c[2].split(","):
                    if lemma.strip():
                        vocab.synonyms.setdefault(normalise(lemma), set()).add(i)
        return vocab

    def match(self, label: str) -> LabelMapping:
        text = label.strip()
        if WNID.match(text.lower()) and self.wnids:
            i = self.wnids.get(text.lower())
            if i is None:
                return LabelMapping(label, note=f"WordNet id {text} is not one of the head's 1000 classes")
            return LabelMapping(label, (i,), "wordnet id")
        key = normalise(text)
        for candidate in dict.fromkeys([key, _singular(key)]):
            found = set(self.synonyms.get(candidate, set()))
            if candidate in self.names:
                found.add(self.names[candidate])
            if len(found) == 1:
                return LabelMapping(label, (next(iter(found)),), "name" if candidate in self.names else "synonym")
            if len(found) > 1:  # e.g. 'crane': torchvision's name of the machine, WordNet's of the bird too
                return LabelMapping(label, note=f"names {len(found)} classes ("
                                    f"{', '.join(str(i) for i in sorted(found))}); settle it in a mapping CSV")
        return LabelMapping(label, note="names no class of the head; map it in a mapping CSV")

    def parse_class(self, text: str, n_classes: int) -> tuple[int, ...] | str:
        """A CSV's class field: indices joined by ';', a WordNet id or a class name; or why not."""
        parts = [p.strip() for p in text.split(";") if p.strip()]
        if not parts:
            return "the class is empty"
        out = []
        for part in parts:
            if part.lstrip("-").isdigit():
                i = int(part)
                if not 0 <= i < n_classes:
                    return f"class {i} is not a class of this model (0 to {n_classes - 1})"
            elif WNID.match(part.lower()) and part.lower() in self.wnids:
                i = self.wnids[part.lower()]
            elif normalise(part) in self.names:
                i = self.names[normalise(part)]
            else:
                return f"{part!r} is neither a class index (0 to {n_classes - 1}) nor a class name of this model"
            out.append(i)
        return tuple(dict.fromkeys(out))


def _singular(key: str) -> str:
    if key.endswith("ies") and len(key) > 4:
        return key[:-3] + "y"
    if key.endswith("es") and key[:-2].endswith(("ch", "sh", "x", "ss")):
        return key[:-2]
    return key[:-1] if key.endswith("s") and not key.endswith("ss") else key


def read_mapping_csv(path: str | os.PathLike, categories: list[str] | None, n_classes: int) -> dict[str, tuple[int, ...]]:
    """label -> class indices from a CSV of `label,class` rows (a header row is allowed); ExplorerError
    naming the file and row for anything it cannot read."""
    vocab = _Vocabulary.of(categories)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise ExplorerError(f"mapping file {path} does not exist.") from None
    except UnicodeDecodeError:
        raise ExplorerError(f"mapping file {path} is not a UTF-8 text file (expected CSV rows label,class).") from None
    except csv.Error as exc:
        raise ExplorerError(f"mapping file {path}: not a readable CSV ({exc}).") from None
    out: dict[str, tuple[int, ...]] = {}
    where: dict[str, int] = {}
    for n, row in enumerate(rows, start=1):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2:
            raise ExplorerError(f"{path} row {n}: expected two columns, label,class (got {row[0]!r}).")
        label, value = row[0].strip(), row[1].strip()
        if n == 1 and normalise(label) == "label":
            continue  # the header
        parsed = vocab.parse_class(value, n_classes)
        if isinstance(parsed, str):
            raise ExplorerError(f"{path} row {n}: {parsed}.")
        if label in out:
            raise ExplorerError(f"{path} row {n}: label {label!r} is already mapped in row {where[label]}.")
        out[label], where[label] = parsed, n
    if not out:
        raise ExplorerError(f"mapping file {path} holds no rows (expected label,class per row).")
    return out


def map_labels(labels, categories: list[str] | None, n_classes: int,
               mapping: dict[str, tuple[int, ...]] | None = None) -> dict[str, LabelMapping]:
    """Each distinct label -> its LabelMapping; `mapping` (from a CSV) overrides the automatic match."""
    vocab = _Vocabulary.of(categories)
    out = {}
    for label in sorted({str(lab) for lab in labels if lab is not None}):
        if mapping and label in mapping:
            out[label] = LabelMapping(label, tuple(mapping[label]), "csv")
        else:
            out[label] = vocab.match(label)
    return out
