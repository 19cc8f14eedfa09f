"""Exports: the selection as CSV, and a run in the TensorBoard projector's format."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .store import Run, csv_writer, write_atomic


def selection_csv(run: Run, indices, layout: np.ndarray | None, path) -> None:
    """index, path, label, x, y (x, y empty without a layout)."""
    buf = io.StringIO()
    w = csv_writer(buf)
    w.writerow(["index", "path", "label", "x", "y"])
    for i in indices:
        row = run.rows[int(i)]
        xy = ["", ""] if layout is None or not np.isfinite(layout[i, 0]) else [f"{layout[i, 0]:.6g}",
                                                                              f"{layout[i, 1]:.6g}"]
        w.writerow([row.index, row.path, row.label or "", *xy])
    write_atomic(Path(path), buf.getvalue())


def projector_tsv(run: Run, folder) -> tuple[Path, Path]:
    """tensors.tsv (one embedded row per line) and metadata.tsv (header: index, label, path).

    Load both in the TensorBoard projector (projector.tensorflow.org: Load) to move between tools.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = np.flatnonzero(run.done_mask)
    tensors = io.StringIO()
    for start in range(0, len(rows), 4096):
        block = np.asarray(run.features[rows[start:start + 4096]], np.float32)
        np.savetxt(tensors, block, fmt="%.6g", delimiter="\t")
    meta = io.StringIO()
    meta.write("index\tlabel\tpath\n")
    for i in rows:
        r = run.rows[int(i)]
        meta.write(f"{r.index}\t{_clean(r.label or '')}\t{_clean(r.path)}\n")
    write_atomic(folder / "tensors.tsv", tensors.getvalue())
    write_atomic(folder / "metadata.tsv", meta.getvalue())
    return folder / "tensors.tsv", folder / "metadata.tsv"


def _clean(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ")
