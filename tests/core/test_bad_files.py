"""A folder of everything researchers point the app at: bad files become rows, valid odd ones embed."""

import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from explorer.cli.main import main
from explorer.core.data.datasets import open_dataset
from explorer.core.engine.embedding import embed_dataset
from explorer.core.errors import DatasetError
from explorer.core.model.zoo import load_model
from explorer.core.progress import run_to_end
from explorer.core.run.store import load_run


def png_with_fake_size(path, width, height):
    """A valid tiny PNG whose header claims width x height (a decompression bomb)."""
    Image.new("RGB", (4, 4), (10, 20, 30)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data[16:29]
    ihdr[0:8] = struct.pack(">II", width, height)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))


def make_messy_folder(root):
    photo = np.asarray(Image.effect_noise((64, 48), 50).convert("RGB"))
    good, bad = root / "good", root / "bad"
    good.mkdir(parents=True)
    bad.mkdir()
    # --- bad files
    Image.fromarray(photo).resize((400, 300)).save(bad / "full.jpg")
    (bad / "truncated.jpg").write_bytes((bad / "full.jpg").read_bytes()[:1200])
    (bad / "full.jpg").unlink()
    (bad / "empty.png").write_bytes(b"")
    (bad / "text.png").write_text("this is not a PNG")
    png_with_fake_size(bad / "bomb.png", 40000, 40000)
    os.symlink(bad / "nowhere.jpg", bad / "dangling.jpg")
    os.symlink(bad / "loop_b.jpg", bad / "loop_a.jpg")
    os.symlink(bad / "loop_a.jpg", bad / "loop_b.jpg")
    os.symlink(root, good / "folder_loop")  # a directory loop
    (good / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (good / "._photo.jpg").write_bytes(b"\0\5\26\7 AppleDouble")
    # --- odd but valid images
    Image.fromarray(photo).convert("L").save(good / "grey.png")
    rgba = Image.fromarray(photo).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(good / "rgba.png")
    pal = Image.fromarray(photo).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.save(good / "palette_transparent.png", transparency=0)
    Image.fromarray(photo).convert("1").save(good / "one_bit.png")
    Image.fromarray(photo).convert("CMYK").save(good / "cmyk.jpg")
    Image.fromarray((np.asarray(Image.fromarray(photo).convert("L"), np.uint16) * 257)).save(good / "grey16.png")
    exif = Image.Exif()
    exif[0x0112] = 8  # stored rotated; displayed after a 90° turn
    Image.fromarray(photo).save(good / "exif_rotated.png", exif=exif.tobytes())
    Image.fromarray(photo).transpose(Image.Transpose.ROTATE_90).save(good / "upright.png")
    frames = [Image.fromarray(photo), Image.new("RGB", (64, 48), (0, 0, 255))]
    frames[0].save(good / "animated.gif", save_all=True, append_images=frames[1:], duration=100)
    Image.new("RGB", (1, 1), (200, 30, 30)).save(good / "tiny.png")
    Image.new("RGB", (3000, 4), (30, 200, 30)).save(good / "strip.png")
    Image.fromarray(photo).save(good / "café-日本.png")
    Image.fromarray(photo).convert("L").point(lambda v: v).save(good / "grey8.png")
    return 13, {"truncated.jpg": "truncated", "empty.png": "empty", "text.png": "unreadable",
                "bomb.png": "too-large", "dangling.jpg": "missing", "loop_a.jpg": "unreadable",
                "loop_b.jpg": "unreadable"}


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    root = tmp_path_factory.mktemp("messy") / "photos"
    n_good, bad = make_messy_folder(root)
    return root, n_good, bad


def test_every_valid_image_embeds_and_every_bad_file_is_a_row(messy, tmp_path, capsys):
    root, n_good, bad = messy
    code = main(["embed", str(root), "--out", str(tmp_path / "run"), "--model", "resnet18", "--weights", "random",
                 "--image-size", "64"])
    out = capsys.readouterr().out
    assert code == 0
    run = load_run(tmp_path / "run")
    status = {r.path.rsplit("/", 1)[-1]: run.status(r.index) for r in run.rows}
    assert ".DS_Store" not in status and "._photo.jpg" not in status
    assert sum(1 for s, _ in status.values() if s == "ok") == n_good
    for name, kind in bad.items():
        assert status[name][0] == kind, (name, status[name])
        assert name in status[name][1]  # the reason names the file
    assert "bomb.png" in status and "40000x40000" in status["bomb.png"][1]
    assert f"{n_good} embedded, 7 skipped: " in out and "3 unreadable" in out and "1 truncated" in out
    assert run.complete
    # oriented as a person sees it: EXIF-rotated equals the physically rotated copy
    index = {r.path.rsplit("/", 1)[-1]: r.index for r in run.rows}
    f = np.asarray(run.features, np.float64)
    np.testing.assert_allclose(f[index["exif_rotated.png"]], f[index["upright.png"]], rtol=1e-3, atol=1e-3)
    # 16-bit grey is rescaled, not white: it embeds like its 8-bit version
    np.testing.assert_allclose(f[index["grey16.png"]], f[index["grey8.png"]], rtol=2e-2, atol=2e-2)


def test_a_folder_without_one_readable_image_is_a_clear_error(tmp_path, capsys):
    root = tmp_path / "junk"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"")
    (root / "b.png").write_text("nope")
    with pytest.raises(DatasetError, match="None of the 2 files"):
        run_to_end(embed_dataset(open_dataset(root), load_model("alexnet", "random", image_size=64),
                                 out=tmp_path / "run"))
    code = main(["embed", str(root), "--out", str(tmp_path / "run2"), "--model", "alexnet", "--weights", "random"])
    assert code == 2 and "None of the 2 files" in capsys.readouterr().err
