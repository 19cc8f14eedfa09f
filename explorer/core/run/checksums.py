"""Checksums of a finished run's files, so an edited run is never served as if it were fine.

Sorting items.csv in a spreadsheet, shuffling its paths or changing numbers in features.npy would
otherwise give wrong neighbours and labels silently. When a run is complete, its files' sizes,
modification times and SHA-256 digests go into the manifest; opening it compares sizes and times
(cheap), and only a file whose size or time changed is hashed again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..data.datasets import hash_file


def _sha256(path: Path) -> str:
    return hash_file(path, hashlib.sha256()).hexdigest()


def record(folder: Path, names: list[str]) -> dict:
    out = {}
    for name in names:
        st = os.stat(folder / name)
        out[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _sha256(folder / name)}
    return out


def changed(folder: Path, recorded: dict) -> list[str]:
    """The recorded files whose content is no longer what was written (missing ones included)."""
    bad = []
    for name, want in recorded.items():
        try:
            st = os.stat(folder / name)
        except OSError:
            bad.append(name)
            continue
        if st.st_size == want.get("size") and st.st_mtime_ns == want.get("mtime_ns"):
            continue
        if st.st_size != want.get("size") or _sha256(folder / name) != want.get("sha256"):
            bad.append(name)
    return bad
