"""Every command, given bad arguments, answers with one line that names the value and exit code 2; never a
traceback (issue 17, "One-line errors instead of tracebacks"). Also `explorer ... | head` (issue 10, item 14).

The table runs in-process through `explorer.cli.main.main`; a few rows run again as real processes
(`python -m explorer`), where an uncaught exception would print its traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.cli.main import main
from tests.core.test_degenerate import make_run


# --- the places the table refers to --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    make_run(root / "run", rng.normal(size=(12, 6)))
    (root / "images" / "a").mkdir(parents=True)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(root / "images" / "a" / f"{i}.png")
    (root / "random.pth").write_bytes(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    import torch
    import torchvision

    torch.save(torchvision.models.resnet18(weights=None), root / "whole-model.pth")  # not a state dict
    return root


def _immutable(path: Path, on: bool) -> bool:
    try:
        return subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True).returncode == 0
    except OSError:
        return False


@contextmanager
def read_only(path: Path):
    """A folder nobody may write into, root included (root ignores modes: the folder is made immutable)."""
    os.chmod(path, 0o555)
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    if root and not _immutable(path, True):
        os.chmod(path, 0o755)
        pytest.skip("running as root, where only an immutable folder (chattr +i) is read-only, and chattr failed")
    try:
        yield path
    finally:
        if root:
            _immutable(path, False)
        os.chmod(path, 0o755)


@pytest.fixture
def places(synthetic, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(synthetic / "run", run)
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "locked").mkdir()
    shutil.copytree(synthetic / "run", tmp_path / "locked" / "run")
    (tmp_path / "folder").mkdir()
    return {"run": str(run), "data": str(synthetic / "images"), "file": str(tmp_path / "a-file"),
            "locked": str(tmp_path / "locked"), "folder": str(tmp_path / "folder"), "tmp": str(tmp_path),
            "random": str(synthetic / "random.pth"), "whole": str(synthetic / "whole-model.pth")}


def edit_manifest(change):
    def setup(p):
        path = Path(p["run"]) / "manifest.json"
        manifest = json.loads(path.read_text())
        manifest = change(manifest)
        path.write_text(json.dumps(manifest))
    return setup


def without(key):
    return edit_manifest(lambda m: {k: v for k, v in m.items() if k != key})


def setting(key, value):
    return edit_manifest(lambda m: dict(m, **{key: value}))


def huge_items_field(p):
    import csv

    path = Path(p["run"]) / "items.csv"
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    rows[1][1] = "x" * (csv.field_size_limit() + 10)
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def lock(p):
    return read_only(Path(p["locked"]))


EMBED = ["--model", "resnet18", "--weights", "random", "--image-size", "32"]

# id, argv, what the one line must name (formatted with the places), setup (may return a context), marks
CASES = [
    ("workers", ["embed", "{data}", "--out", "{tmp}/r", *EMBED, "--workers", "-1"], ["--workers", "'-1'"]),
    ("demo-workers", ["demo", "--workers", "-1"], ["--workers", "'-1'"]),
    ("image-size-0", ["embed", "{data}", "--out", "{tmp}/r", "--image-size", "0"], ["--image-size", "'0'"]),
    ("image-size-negative", ["embed", "{data}", "--out", "{tmp}/r", "--image-size", "-5"], ["'-5'"]),
    ("layers-image-size", ["layers", "resnet18", "--weights", "random", "--image-size", "0"], ["'0'"]),
    ("batch-size", ["embed", "{data}", "--out", "{tmp}/r", "--batch-size", "0"], ["--batch-size", "'0'"]),
    ("device", ["embed", "{data}", "--out", "{tmp}/r", *EMBED, "--device", "meta"], ["--device", "'meta'"]),
    ("gpus-per-worker", ["embed", "{data}", "--out", "{tmp}/r", *EMBED, "--engine", "ray", "--gpus-per-worker",
                         "1.5"], ["--gpus-per-worker", "'1.5'"]),
    ("address-without-ray", ["embed", "{data}", "--out", "{tmp}/r", *EMBED, "--address", "auto"],
     ["--address", "--engine ray"]),
    ("decode", ["embed", "{data}", "--out", "{tmp}/r", *EMBED, "--decode", "nvjpeg"], ["--decode", "'nvjpeg'"]),
    ("decode-gpu-on-cpu", ["embed", "{data}", "--out", "{tmp}/r", *EMBED, "--device", "cpu", "--decode", "gpu"],
     ["--decode gpu", "cpu"]),
    ("perplexity-0", ["project", "{run}", "--method", "tsne", "--perplexity", "0"], ["--perplexity", "'0'"]),
    ("perplexity-negative", ["project", "{run}", "--perplexity", "-3"], ["'-3'"]),
    ("perplexity-nan", ["project", "{run}", "--method", "tsne", "--perplexity", "nan"], ["'nan'"]),
    ("perplexity-inf", ["project", "{run}", "--method", "tsne", "--perplexity", "inf"], ["'inf'"]),
    ("seed-negative", ["project", "{run}", "--seed", "-1"], ["--seed", "'-1'"]),
    ("seed-huge", ["project", "{run}", "--seed", str(2**32)], ["--seed", f"'{2**32}'", str(2**32 - 1)]),
    ("neighbours-index", ["neighbours", "{run}", "-1"], ["'-1'"]),
    ("neighbours-index-range", ["neighbours", "{run}", "99"], ["99"]),
    ("neighbours-k", ["neighbours", "{run}", "0", "-k", "0"], ["-k", "'0'"]),
    ("patches-channel", ["patches", "{run}", "--channel", "-2", "--out", "{tmp}/p"], ["--channel", "'-2'"]),
    ("patches-k", ["patches", "{run}", "--channel", "0", "-k", "0", "--out", "{tmp}/p"], ["-k", "'0'"]),
    ("kernels-pixels", ["kernels", "resnet18", "--weights", "random", "--out", "{tmp}/k.png", "--pixels", "0"],
     ["--pixels", "'0'"]),
    ("kernels-extension", ["kernels", "resnet18", "--weights", "random", "--out", "{tmp}/k.xyz"], ["k.xyz", "'.xyz'"]),
    ("kernels-no-extension", ["kernels", "resnet18", "--weights", "random", "--out", "{tmp}/kernels"],
     ["{tmp}/kernels", "no extension"]),
    ("unknown-command", ["nonsense"], ["'nonsense'"]),
    ("unknown-option", ["models", "--bogus"], ["--bogus"]),
    ("missing-dataset", ["embed", "{tmp}/nowhere", "--out", "{tmp}/r"], ["{tmp}/nowhere"]),
    ("unknown-model", ["layers", "nosuchnet"], ["'nosuchnet'"]),
    # places that cannot be written
    ("out-under-a-file", ["embed", "{data}", "--out", "{file}/run", *EMBED], ["{file}", "is a file"]),
    ("out-read-only-new", ["embed", "{data}", "--out", "{locked}/new", *EMBED], ["{locked}", "read-only"], lock),
    ("out-read-only-existing", ["embed", "{data}", "--out", "{locked}/run", *EMBED], ["{locked}/run", "read-only"],
     lambda p: read_only(Path(p["locked"]) / "run")),
    ("project-read-only", ["project", "{locked}/run"], ["{locked}/run", "read-only"],
     lambda p: read_only(Path(p["locked"]) / "run")),
    ("export-csv-read-only", ["export", "{run}", "--csv", "{locked}/rows.csv"], ["{locked}", "read-only"], lock),
    ("export-projector-read-only", ["export", "{run}", "--projector", "{locked}/tb"], ["{locked}", "read-only"], lock),
    ("export-csv-folder", ["export", "{run}", "--csv", "{folder}"], ["{folder}", "is a folder"]),
    ("export-csv-under-a-file", ["export", "{run}", "--csv", "{file}/rows.csv"], ["{file}", "is a file"]),
    ("export-nothing", ["export", "{run}"], ["--csv"]),
    ("patches-out-under-a-file", ["patches", "{run}", "--channel", "0", "--out", "{file}/p"], ["{file}", "is a file"]),
    ("kernels-out-under-a-file", ["kernels", "resnet18", "--weights", "random", "--out", "{file}/k.png"],
     ["{file}", "is a file"]),
    ("kernels-out-read-only", ["kernels", "resnet18", "--weights", "random", "--out", "{locked}/k.png"],
     ["{locked}", "read-only"], lock),
    # damaged run folders
    ("manifest-list", ["project", "{run}"], ["{run}", "damaged", "not an object"],
     lambda p: (Path(p["run"]) / "manifest.json").write_text("[]")),
    ("manifest-string", ["neighbours", "{run}", "0"], ["{run}", "damaged"],
     lambda p: (Path(p["run"]) / "manifest.json").write_text('"a run"')),
    ("manifest-newer-schema", ["project", "{run}"], ["{run}", "run format 99"], setting("schema_version", 99)),
    ("manifest-schema-as-text", ["project", "{run}"], ["{run}", "'two'"], setting("schema_version", "two")),
    ("manifest-empty-object", ["project", "{run}"], ["{run}", "damaged", "schema_version"],
     lambda p: (Path(p["run"]) / "manifest.json").write_text("{}")),
    ("manifest-no-layers", ["neighbours", "{run}", "0"], ["{run}", "damaged", "layers"], without("layers")),
    ("manifest-no-input-size", ["patches", "{run}", "--channel", "0", "--out", "{tmp}/p"],
     ["{run}", "damaged", "input_size"], without("input_size")),
    ("manifest-no-dataset", ["patches", "{run}", "--channel", "0", "--out", "{tmp}/p"],
     ["{run}", "damaged", "dataset"], without("dataset")),
    ("manifest-input-size-type", ["patches", "{run}", "--channel", "0", "--out", "{tmp}/p"],
     ["{run}", "damaged", "input_size"], setting("input_size", "big")),
    ("manifest-layers-type", ["project", "{run}"], ["{run}", "damaged", "layers"], setting("layers", "blob")),
    ("manifest-arrays-type", ["project", "{run}"], ["{run}", "damaged", "arrays"], setting("arrays", 5)),
    ("items-field-too-long", ["neighbours", "{run}", "0"], ["{run}", "damaged", "items.csv"], huge_items_field),
    # weights that are not a state dict
    ("weights-random-bytes", ["layers", "resnet18", "--weights", "{random}"], ["{random}"], None),
    ("weights-whole-model", ["layers", "resnet18", "--weights", "{whole}"], ["{whole}", "state dict"], None),
    ("image-size-too-small-for-model", ["layers", "alexnet", "--weights", "random", "--image-size", "32"],
     ["32", "alexnet"]),
]


def _case(entry):
    ident, argv, names, *rest = entry
    setup = rest[0] if rest else None
    marks = rest[1:] if len(rest) > 1 else ()
    return pytest.param(argv, names, setup, id=ident, marks=marks)


def assert_one_line(code, out, err, names, places):
    assert "Traceback" not in out + err
    # what a terminal shows: a progress bar redrawn with \r (and cleared on an error) is not a line
    lines = [line.rsplit("\r", 1)[-1] for line in err.split("\n")]
    lines = [line for line in lines if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for name in names:
        assert name.format(**places) in lines[0]
    assert code == 2, lines[0]


@pytest.mark.parametrize("argv, names, setup", [_case(c) for c in CASES])
def test_bad_argument_is_one_line(places, capsys, argv, names, setup):
    context = setup(places) if setup is not None else None
    with context if context is not None and hasattr(context, "__enter__") else _nothing():
        code = main([a.format(**places) for a in argv])
        out, err = capsys.readouterr()
    assert_one_line(code, out, err, names, places)


@contextmanager
def _nothing():
    yield


@pytest.mark.parametrize("ident", ["workers", "device", "seed-huge", "export-csv-folder", "kernels-extension",
                                   "out-under-a-file"])
def test_no_traceback_in_a_real_process(places, ident):
    _, argv, names, *_ = next(c for c in CASES if c[0] == ident)
    proc = subprocess.run([sys.executable, "-m", "explorer", *[a.format(**places) for a in argv]],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, TQDM_DISABLE="1"))
    assert_one_line(proc.returncode, proc.stdout, proc.stderr, names, places)


# --- a reader that goes away ---------------------------------------------------------------------------------

def big_run(path: Path, n: int = 3000):
    rng = np.random.default_rng(1)
    return make_run(path, rng.normal(size=(n, 4)), paths=[f"a/{'long-name-' * 6}{i:05d}.png" for i in range(n)])


def test_piping_into_head_ends_quietly(tmp_path):
    """`explorer neighbours RUN 0 -k 3000 | head -1`: more output than a pipe holds, so the writer meets a
    closed pipe. Python's recipe: point stdout at devnull, exit 141 like a tool killed by SIGPIPE."""
    big_run(tmp_path / "run")
    command = f"{sys.executable} -m explorer neighbours {tmp_path / 'run'} 0 -k 2999 --json | head -1; " \
              "echo \"status ${PIPESTATUS[0]}\" >&2"
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TQDM_DISABLE="1"))
    assert proc.stdout == "[\n"
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr and "Exception" not in proc.stderr
    assert "status 141" in proc.stderr


def test_a_reader_gone_before_the_first_line(tmp_path):
    big_run(tmp_path / "run", n=50)
    proc = subprocess.Popen([sys.executable, "-m", "explorer", "neighbours", str(tmp_path / "run"), "0", "-k", "49"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # long before the command prints
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141
    assert err == ""
