"""Exports: the selection as CSV for spreadsheets, and a run in the TensorBoard projector's format.

metadata.tsv (TensorBoard projector): TensorBoard splits lines at "\\n" and fields at "\\t" and
knows no quoting, so a field cannot hold those characters; they are written as backslash
escapes, which keeps every name exact and distinct (`a<TAB>b` is `a\\tb`, `a b` stays `a b`):

    \\\\ backslash   \\t tab   \\n line feed   \\r carriage return
    \\" a double quote that starts a field (pandas and Python's csv would take it for quoting)
    \\xHH, \\uHHHH  other characters some readers split lines at (\\x0b \\x0c \\x1c-\\x1e \\x85 \\u2028
                  \\u2029) and lone surrogates (bytes of a file name that are not UTF-8)

`unescape_tsv` reverses it. pandas reads the file as written with
`pd.read_csv(path, sep="\\t", dtype=str, keep_default_na=False)` (then `unescape_tsv` per field);
Python's `csv.reader(f, delimiter="\\t")` likewise.

The selection CSV is meant for spreadsheets: a path or label that starts with =, +, -, @, a tab or a
carriage return (or their full-width forms) would be run as a formula, so it is written with a
leading apostrophe, as OWASP recommends ("'=cmd"). items.csv in the run folder stays exact.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np

from .files import UMASK, csv_writer, write_atomic
from .store import Run

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NAMED = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_SPECIAL = re.compile("[\\\\\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\ud800-\udfff]")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)", re.DOTALL)


def escape_tsv(text: str) -> str:
    """One metadata.tsv field: no tab or line break left, reversible with `unescape_tsv`."""
    out = _SPECIAL.sub(lambda m: _NAMED.get(m.group(), _code(m.group())), text)
    return "\\" + out if out.startswith('"') else out


def unescape_tsv(field: str) -> str:
    def one(m: re.Match) -> str:
        code = m.group(1)
        if len(code) > 1:
            return chr(int(code[1:], 16))
        return {"t": "\t", "n": "\n", "r": "\r"}.get(code, code)

    return _ESCAPE.sub(one, field)


def _code(ch: str) -> str:
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def spreadsheet_text(text: str) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula (OWASP: a leading apostrophe)."""
    return "'" + text if text.startswith(FORMULA_START) else text


CSV_COLUMNS = ["index", "path", "label", "x", "y", "map", "run"]


MAP_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


def map_name(method: str) -> str:
    """'t-SNE' for "tsne"; 't-SNE (unfinished)' for a running map's frames ("tsne-partial", "umap-partial")."""
    base = method.removesuffix("-partial")
    name = MAP_NAMES.get(base, base)
    return f"{name} (unfinished)" if base != method else name


def describe_map(method: str | None, *, perplexity: float | None = None, seed: int | None = None) -> str:
    """'t-SNE (perplexity 30, seed 0)', 'PCA (seed 0)'; '' without a map."""
    if not method:
        return ""
    name = map_name(method)
    settings = [f"perplexity {perplexity:g}"] if method.startswith("tsne") and perplexity is not None else []
    if seed is not None:
        settings.append(f"seed {seed}")
    return f"{name} ({', '.join(settings)})" if settings else name


def describe_run(run: Run) -> str:
    """'resnet18 / layer4.1.relu_1 (run <folder name>)': what the features of an export come from."""
    return f"{run.model} / {run.layer} (run {run.path.name})"


def selection_csv(run: Run, indices, layout: np.ndarray | None, path, *, map_name: str = "") -> None:
    """index, path, label, x, y, map, run: x, y empty without a layout, or for rows the layout has no point
    for; `map` names the projection x, y come from (`describe_map`), `run` the model, layer and run folder.

    For spreadsheets: paths and labels that would start a formula get a leading apostrophe; the
    exact names are in the run's items.csv (same index).
    """
    buf = io.StringIO()
    w = csv_writer(buf)
    w.writerow(CSV_COLUMNS)
    map_name = map_name if layout is not None else ""
    source = describe_run(run)
    for i in indices:
        row = run.rows[int(i)]
        xy = ["", ""] if layout is None or not np.isfinite(layout[i]).all() else [f"{layout[i, 0]:.6g}",
                                                                                 f"{layout[i, 1]:.6g}"]
        w.writerow([row.index, spreadsheet_text(row.path), spreadsheet_text(row.label or ""), *xy,
                    map_name if xy[0] else "", source])
    # a name that is not valid UTF-8 is shown as \udcXX in a spreadsheet, never as broken text
    write_atomic(Path(path), buf.getvalue(), errors="backslashreplace")


def projector_tsv(run: Run, folder, *, sprite: bool = True) -> tuple[Path, Path]:
    """tensors.tsv (one embedded row per line) and metadata.tsv (header: index, label, path; fields
    escaped, see the module's docstring); with `sprite`, sprite.png (a thumbnail per row) and
    projector_config.pbtxt naming the three, so the projector shows the images.

    Load the two TSVs in the TensorBoard projector (projector.tensorflow.org: Load), or point
    TensorBoard at the folder (`tensorboard --logdir FOLDER`), which reads the config and the sprite.
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
        meta.write(f"{r.index}\t{escape_tsv(r.label or '')}\t{escape_tsv(r.path)}\n")
    write_atomic(folder / "tensors.tsv", tensors.getvalue())
    write_atomic(folder / "metadata.tsv", meta.getvalue())
    if sprite:
        side = write_sprite(run, rows, folder / "sprite.png")
        write_atomic(folder / "projector_config.pbtxt", projector_config(side))
    return folder / "tensors.tsv", folder / "metadata.tsv"


SPRITE_MAX = 8192  # the projector reads sprites up to 8192 x 8192 pixels
SPRITE_THUMB = 64


def sprite_layout(n: int) -> tuple[int, int]:
    """(columns, thumbnail side) of the sprite of n images: a square grid filled row by row, as the
    projector reads it; thumbnails shrink so the sprite stays within SPRITE_MAX."""
    columns = max(1, int(np.ceil(np.sqrt(n))))
    return columns, max(1, min(SPRITE_THUMB, SPRITE_MAX // columns))


def write_sprite(run: Run, rows: np.ndarray, path: Path) -> int:
    """sprite.png: row rows[k]'s thumbnail in cell k (row-major), centred on white; an unreadable image
    is a grey cell. Returns the cell side."""
    from PIL import Image

    from .images import thumbnail

    columns, side = sprite_layout(len(rows))
    lines = max(1, -(-len(rows) // columns))
    sheet = Image.new("RGB", (columns * side, lines * side), (255, 255, 255))
    for k, i in enumerate(rows):
        x, y = (k % columns) * side, (k // columns) * side
        try:
            thumb = thumbnail(run, int(i), side).convert("RGB")
            thumb.thumbnail((side, side))
        except Exception:  # deleted or unreadable since it was embedded: the row keeps its place
            sheet.paste((200, 200, 200), (x, y, x + side, y + side))
            continue
        sheet.paste(thumb, (x + (side - thumb.width) // 2, y + (side - thumb.height) // 2))
    tmp = path.with_name(path.name + ".part")
    sheet.save(tmp, "PNG")
    os.chmod(tmp, 0o666 & ~UMASK)
    os.replace(tmp, path)
    return side


def projector_config(side: int) -> str:
    """projector_config.pbtxt for tensors.tsv, metadata.tsv and sprite.png with cells of `side` pixels."""
    return ("embeddings {\n"
            '  tensor_path: "tensors.tsv"\n'
            '  metadata_path: "metadata.tsv"\n'
            "  sprite {\n"
            '    image_path: "sprite.png"\n'
            f"    single_image_dim: {side}\n"
            f"    single_image_dim: {side}\n"
            "  }\n"
            "}\n")
