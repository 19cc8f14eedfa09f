"""`explorer patches` when top images were deleted, damaged or the dataset moved: the patches that can be
shown are written, the missing files are named, the JSON stays valid (issue 17, item 15)."""

import json
import shutil
import subprocess
import sys

import pytest

from explorer.cli.main import main
from explorer.core.analysis.patches import MissingPatch, channel_patches, crop_patch, top_patches
from explorer.core.errors import DecodeError
from explorer.core.run.store import load_run

CHANNEL, K = 5, 4


@pytest.fixture
def run_and_images(photo_folder, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(photo_folder, images)
    out = tmp_path / "run"
    assert main(["embed", str(images), "--out", str(out), "--model", "resnet18", "--weights", "random",
                 "--image-size", "64", "--layer", "layer2.1.add"]) == 0
    return load_run(out), images


def patches_cli(capsys, run, out, *extra):
    code = main(["patches", str(run.path), "--channel", str(CHANNEL), "-k", str(K), "--out", str(out), *extra])
    stdout, stderr = capsys.readouterr()
    return code, stdout, stderr


def test_a_deleted_top_image_is_named_and_the_rest_are_shown(run_and_images, tmp_path, capsys):
    run, images = run_and_images
    ranked = top_patches(run, CHANNEL, K)
    gone = ranked[1]
    (images / gone.path).unlink()

    code, out, err = patches_cli(capsys, run, tmp_path / "p", "--json")
    assert code == 0 and "Traceback" not in err
    printed = json.loads(out)  # valid JSON
    assert [p["index"] for p in printed] == [p.index for p in ranked]  # the ranking is kept
    missing = [p for p in printed if p.get("missing")]
    assert len(missing) == 1 and missing[0]["index"] == gone.index and missing[0]["box"] is None
    assert str(images / gone.path) in missing[0]["missing"]
    shown = [p for p in printed if not p.get("missing")]
    assert all(set(p) == {"index", "path", "activation", "box"} for p in shown)
    written = sorted(f.name for f in (tmp_path / "p").iterdir())
    assert len(written) == K - 1 and not any(f"item{gone.index}." in name for name in written)
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(images / gone.path) in warnings[0]

    code, out, err = patches_cli(capsys, run, tmp_path / "q")  # the text form says it too
    assert code == 0 and f"{K - 1} patches" in out and "1 top images could not be read" in out


def test_a_damaged_top_image_is_skipped_when_its_pixels_cannot_be_read(run_and_images, tmp_path, capsys):
    run, images = run_and_images
    first = top_patches(run, CHANNEL, K)[0]
    path = images / first.path
    path.write_bytes(path.read_bytes()[:200])  # the header survives, the pixels do not
    found = channel_patches(run, CHANNEL, K)
    if isinstance(found.ranked[0], MissingPatch):  # the header itself was cut: named already
        assert str(path) in found.ranked[0].reason
    else:
        with pytest.raises(DecodeError) as caught:
            crop_patch(run, found.ranked[0])
        assert str(path) in caught.value.reason
    code, out, err = patches_cli(capsys, run, tmp_path / "p", "--json")
    assert code == 0 and json.loads(out)[0]["missing"] and str(path) in err


def test_crop_patch_names_a_file_deleted_after_ranking(run_and_images):
    """What the app's Neurons tab meets: patches ranked, then an image vanishes before it is cropped."""
    run, images = run_and_images
    patch = top_patches(run, CHANNEL, 1)[0]
    (images / patch.path).unlink()
    with pytest.raises(DecodeError) as caught:
        crop_patch(run, patch)
    assert caught.value.kind == "missing" and str(images / patch.path) in caught.value.reason
    assert [p.index for p in top_patches(run, CHANNEL, K)] != []  # the others still come back


def test_a_moved_dataset_is_one_clear_line(run_and_images, tmp_path, capsys):
    run, images = run_and_images
    images.rename(tmp_path / "elsewhere")
    code, out, err = patches_cli(capsys, run, tmp_path / "p", "--json")
    assert code == 2 and out == "" and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(images) in lines[0] and "does not exist any more" in lines[0]


def test_no_traceback_in_a_real_process(run_and_images, tmp_path):
    run, images = run_and_images
    (images / top_patches(run, CHANNEL, 1)[0].path).unlink()
    proc = subprocess.run([sys.executable, "-m", "explorer", "patches", str(run.path), "--channel", str(CHANNEL),
                           "-k", str(K), "--out", str(tmp_path / "p"), "--json"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)[0]["missing"]
