"""Exports that stay true to the run: the CSV takes only a map of the current rows (issue 17, item 9), the
projector's metadata.tsv keeps every name exact and readable, and the spreadsheet CSV never starts a
formula (item 10)."""

import csv
import io
import re

import numpy as np
import pytest

from explorer.cli.main import main
from explorer.core.analysis.kept_projections import load_projection, project_run
from explorer.core.progress import run_to_end
from explorer.core.run.export import projector_tsv, selection_csv, unescape_tsv
from explorer.core.run.store import load_run
from tests.core.test_degenerate import make_run

HOSTILE = ["a\tb", "a b", "line\nbreak", "carriage\rreturn", "both\r\nends", "back\\slash", "\\t not a tab",
           '"quoted at the start', 'a "quote" inside', '"', "", " lead and trail ", "=1+2", "+cmd", "-minus",
           "@sum(A1)", "\tstarts with a tab", "\u2028line separator", "form\x0cfeed", "vertical\x0btab",
           "\x85next line", "\x1cfile sep", "ünïcødé ✓"]
NOT_UTF8 = "not utf-8 \udcff\udcfe"  # a file name whose bytes are not UTF-8, as os.fsdecode gives it


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def blobs(n, d=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (3, d))
    return (centres[np.arange(n) % 3] + rng.normal(0, 1, (n, d))).astype(np.float32)


def export_csv(capsys, run, path):
    assert main(["export", str(run.path), "--csv", str(path)]) == 0
    out, err = capsys.readouterr()
    rows = read_csv(path)
    assert rows[0] == ["index", "path", "label", "x", "y", "map", "run"] and len(rows) == len(run) + 1
    return rows[1:], out, err


def xy(rows):
    return np.array([[float(r[3]) if r[3] else np.nan, float(r[4]) if r[4] else np.nan] for r in rows])


def test_export_after_a_resumed_run_never_uses_a_stale_map(tmp_path, capsys):
    feats = blobs(30)
    half = np.arange(15)
    make_run(tmp_path / "run", feats, done=half)  # a run stopped half way ...
    run = load_run(tmp_path / "run", writable=True)
    run_to_end(project_run(run, "pca"))  # ... was projected: 15 points
    rest = np.arange(15, 30)
    run.write_rows(rest, {"features": feats[rest], "channel_max": feats[rest],
                          "channel_argmax": np.zeros((15, 8), int)})  # ... then resumed and finished
    run.save(complete=True)
    assert (tmp_path / "run" / "projection-pca.npy").exists()  # the people's copy of the old map is still there

    rows, out, err = export_csv(capsys, run, tmp_path / "rows.csv")
    assert all(r[3] == "" and r[4] == "" for r in rows)  # no coordinates from a map of other rows
    assert "warning: no projection of the current rows; run 'explorer project' first" in err

    layout = run_to_end(project_run(run, "pca"))
    rows, out, err = export_csv(capsys, run, tmp_path / "rows.csv")
    np.testing.assert_allclose(xy(rows), layout, rtol=1e-5, atol=1e-5)
    assert "warning" not in err and "x, y from the PCA map (seed 0)" in out


def test_export_takes_the_newest_map_of_the_current_rows(tmp_path, capsys):
    run = make_run(tmp_path / "run", blobs(40))
    pca = run_to_end(project_run(run, "pca", seed=0))
    tsne = run_to_end(project_run(run, "tsne", perplexity=5, seed=2))
    rows, out, _ = export_csv(capsys, run, tmp_path / "a.csv")
    np.testing.assert_allclose(xy(rows), tsne, rtol=1e-5, atol=1e-5)
    assert "the t-SNE map (perplexity 5, seed 2)" in out
    pca1 = run_to_end(project_run(run, "pca", seed=1))
    rows, out, _ = export_csv(capsys, run, tmp_path / "b.csv")
    np.testing.assert_allclose(xy(rows), pca1, rtol=1e-5, atol=1e-5)
    assert load_projection(run, "pca", seed=0) is not None and pca is not None

    # one more row fails (the run was updated): every kept map is of other rows now
    run = load_run(tmp_path / "run", writable=True)
    run.mark_failed(4, "unreadable", "test")
    run.save()
    rows, _, err = export_csv(capsys, load_run(tmp_path / "run"), tmp_path / "c.csv")
    assert all(r[3] == "" for r in rows) and "no projection of the current rows" in err


# --- metadata.tsv -----------------------------------------------------------------------------------------

def tensorboard_rows(text: str) -> list[list[str]]:
    """What TensorBoard's projector reads (vz_projector/data-provider.ts, parseMetadata): lines split at
    '\\n', blank lines skipped, fields split at '\\t', no quoting."""
    return [line.split("\t") for line in text.split("\n") if line.strip()]


def independent_unescape(field: str) -> str:
    names = {"t": "\t", "n": "\n", "r": "\r"}
    return re.sub(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|.)",
                  lambda m: chr(int(m.group(1)[1:], 16)) if len(m.group(1)) > 1 else names.get(m.group(1), m.group(1)),
                  field, flags=re.S)


@pytest.fixture
def hostile_run(tmp_path):
    n = len(HOSTILE)
    labels = [HOSTILE[(i + 3) % n] or None for i in range(n)]
    return make_run(tmp_path / "run", blobs(n), labels=labels, paths=list(HOSTILE))


def test_projector_metadata_keeps_every_name_exact_and_distinct(hostile_run, tmp_path):
    run = load_run(hostile_run.path)
    assert [r.path for r in run.rows] == HOSTILE  # the run itself holds them exactly
    _, meta = projector_tsv(run, tmp_path / "tb")
    text = meta.read_bytes().decode("utf-8")

    rows = tensorboard_rows(text)
    assert rows[0] == ["index", "label", "path"] and len(rows) == len(run) + 1
    assert all(len(r) == 3 for r in rows)
    paths = [independent_unescape(r[2]) for r in rows[1:]]
    labels = [independent_unescape(r[1]) for r in rows[1:]]
    assert paths == HOSTILE and labels == [r.label or "" for r in run.rows]
    assert len({r[2] for r in rows[1:]}) == len(HOSTILE)  # 'a\tb' and 'a b' no longer collide
    assert [unescape_tsv(r[2]) for r in rows[1:]] == HOSTILE  # the documented inverse
    assert len(text.splitlines()) == len(run) + 1  # no reader that splits lines more finds extra lines

    # Python's csv module (pandas' C parser follows the same rules: a field is quoted only when it
    # starts with a quote) reads the same fields
    parsed = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t"))
    assert parsed == rows


def test_projector_metadata_reads_back_in_pandas(hostile_run, tmp_path):
    pd = pytest.importorskip("pandas")
    _, meta = projector_tsv(load_run(hostile_run.path), tmp_path / "tb")
    frame = pd.read_csv(meta, sep="\t", dtype=str, keep_default_na=False)
    assert [unescape_tsv(p) for p in frame["path"]] == HOSTILE


def test_projector_tensors_match_the_metadata_rows(hostile_run, tmp_path):
    run = load_run(hostile_run.path)
    tensors, meta = projector_tsv(run, tmp_path / "tb")
    values = np.loadtxt(tensors, delimiter="\t")
    rows = tensorboard_rows(meta.read_text(encoding="utf-8"))[1:]
    np.testing.assert_allclose(values, np.asarray(run.features, np.float64)[[int(r[0]) for r in rows]], rtol=1e-5)


# --- the spreadsheet CSV ----------------------------------------------------------------------------------

def test_selection_csv_never_starts_a_formula(hostile_run, tmp_path):
    run = load_run(hostile_run.path)
    layout = np.full((len(run), 2), -1.5, np.float32)  # negative numbers stay numbers
    selection_csv(run, range(len(run)), layout, tmp_path / "sel.csv")
    rows = read_csv(tmp_path / "sel.csv")[1:]
    assert len(rows) == len(run)
    for row, original in zip(rows, run.rows):
        for cell, name in ((row[1], original.path), (row[2], original.label or "")):
            if name[:1] in ("=", "+", "-", "@", "\t", "\r"):
                assert cell == "'" + name
            else:
                assert cell == name
        assert int(row[0]) == original.index and row[3:5] == ["-1.5", "-1.5"]
    cells = [c for r in rows for c in r[1:3]]
    assert not any(c[:1] in ("=", "+", "-", "@", "\t", "\r") for c in cells)
    assert "'=1+2" in cells and "'@sum(A1)" in cells and "'-minus" in cells and "a\tb" in cells


def test_a_name_that_is_not_utf8_is_exported_readably(tmp_path):
    run = make_run(tmp_path / "run", blobs(3), paths=["ok.png", NOT_UTF8, "=x"])
    _, meta = projector_tsv(run, tmp_path / "tb")
    rows = tensorboard_rows(meta.read_bytes().decode("utf-8"))  # valid UTF-8
    assert rows[2][2] == "not utf-8 \\udcff\\udcfe" and unescape_tsv(rows[2][2]) == NOT_UTF8
    selection_csv(run, range(3), None, tmp_path / "sel.csv")
    cells = [r[1] for r in read_csv(tmp_path / "sel.csv")[1:]]  # valid UTF-8: a spreadsheet opens it
    assert cells == ["ok.png", "not utf-8 \\udcff\\udcfe", "'=x"]


def test_projector_export_has_a_sprite_and_config_so_thumbnails_show(tmp_path):
    """Issue 10: the TensorBoard export showed no images; now sprite.png (row-major cells, in metadata.tsv's
    row order) and projector_config.pbtxt naming it."""
    from PIL import Image

    from explorer.core.run.export import SPRITE_MAX, sprite_layout

    n = 10
    rng = np.random.default_rng(1)
    colours = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(n)]
    labels = ["ab"[i % 2] for i in range(n)]
    paths = [f"{labels[i]}/{i}.png" for i in range(n)]
    for i, (path, colour) in enumerate(zip(paths, colours)):
        (tmp_path / "images" / labels[i]).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 20) if i % 3 else (30, 30), colour).save(tmp_path / "images" / path)
    run = make_run(tmp_path / "run", blobs(n), labels=labels, paths=paths, done=[i for i in range(n) if i != 4])
    (tmp_path / "images" / paths[7]).unlink()  # gone since it was embedded: a grey cell, same place

    out = tmp_path / "tb"
    projector_tsv(run, out)
    rows = [i for i in range(n) if i != 4]  # the embedded rows, as in tensors.tsv and metadata.tsv
    sprite = np.asarray(Image.open(out / "sprite.png").convert("RGB"))
    columns, side = 3, 64  # 9 rows: a 3 x 3 grid of 64 px cells
    assert sprite.shape == (3 * side, columns * side, 3)
    for k, i in enumerate(rows):
        centre = sprite[(k // columns) * side + side // 2, (k % columns) * side + side // 2]
        expected = (200, 200, 200) if i == 7 else colours[i]
        assert np.abs(centre.astype(int) - expected).max() <= 2, (k, i, centre, expected)
    config = (out / "projector_config.pbtxt").read_text()
    assert re.search(r'tensor_path: "tensors.tsv"', config) and re.search(r'metadata_path: "metadata.tsv"', config)
    assert re.search(r'sprite \{\s*image_path: "sprite.png"\s*single_image_dim: 64\s*single_image_dim: 64\s*\}',
                     config)
    for count in (1, 2, 5000, 20_000, 1_000_000):  # never bigger than the projector reads
        cols, cell = sprite_layout(count)
        assert cols * cols >= count and cols * cell <= SPRITE_MAX and cell >= 1


def test_the_csv_names_the_run_and_the_map(tmp_path, capsys):
    run = make_run(tmp_path / "run", blobs(20))
    run_to_end(project_run(run, "tsne", perplexity=5, seed=3))
    rows, out, _ = export_csv(capsys, run, tmp_path / "a.csv")
    assert {r[5] for r in rows} == {"t-SNE (perplexity 5, seed 3)"}
    assert {r[6] for r in rows} == {f"synthetic / blob (run {run.path.name})"}


def test_every_map_is_named_one_way():
    from explorer.core.run.export import describe_map, map_name

    assert [map_name(m) for m in ("pca", "tsne", "umap", "tsne-partial", "umap-partial")] == \
        ["PCA", "t-SNE", "UMAP", "t-SNE (unfinished)", "UMAP (unfinished)"]
    assert describe_map("umap-partial", seed=3) == "UMAP (unfinished) (seed 3)"
