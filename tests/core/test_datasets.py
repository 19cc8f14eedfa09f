"""Datasets and decoding: labels, order, every colour mode a person might have."""

import os

import numpy as np
import pytest
from PIL import Image

from explorer.core.data.datasets import open_dataset
from explorer.core.data.decode import load_rgb
from explorer.core.errors import DatasetError, DecodeError


def test_class_folders_are_labels_in_a_stable_sorted_order(tmp_path):
    for rel in ["b/2.png", "a/z.jpg", "a/sub/deeper/1.png", "b/.DS_Store", "a/._x.jpg", "a/notes.txt"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith((".png", ".jpg")) and "._" not in rel:
            Image.new("RGB", (4, 4)).save(p)
        else:
            p.write_bytes(b"junk")
    ds = open_dataset(tmp_path)
    assert [it.path for it in ds.items] == ["a/sub/deeper/1.png", "a/z.jpg", "b/2.png"]
    assert ds.labels == ["a", "a", "b"] and ds.classes == ["a", "b"]


def test_flat_folder_has_no_labels_and_empty_folder_is_a_clear_error(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "x.png")
    assert open_dataset(tmp_path).labels == [None]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="No images found"):
        open_dataset(empty)
    with pytest.raises(DatasetError, match="not found"):
        open_dataset(tmp_path / "missing")


def test_symlink_loop_is_listed_once(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "x.png")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    assert [it.path for it in open_dataset(tmp_path).items] == ["a/x.png"]


def test_demo_digits():
    from sklearn.datasets import load_digits

    ds = open_dataset("demo:digits")
    digits = load_digits()
    assert len(ds) == 1797 and ds.classes == [str(d) for d in range(10)]
    img, size = ds.load(5)
    assert img.mode == "RGB" and size == (8, 8)
    a = np.asarray(img)[..., 0].astype(float)
    # dark ink on white paper: 16 ink -> 0, no ink -> 255
    np.testing.assert_allclose(a, 255 - digits.images[5] * 255 / 16, atol=0.51)
    assert ds.labels[5] == str(digits.target[5])


def rgb_at(path, xy):
    img, _ = load_rgb(path)
    return img.getpixel(xy), img.size


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 10, 10))  # red top-left corner as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    img.save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    loaded, original = load_rgb(tmp_path / "rot.jpg")
    assert loaded.size == (20, 40) and original == (20, 40)
    r, g, b = loaded.getpixel((15, 3))  # the red corner is now top-right
    assert r > 200 and b < 60


def test_sixteen_bit_grey_is_rescaled_not_white(tmp_path):
    a = np.full((8, 8), 32768, np.uint16)
    Image.fromarray(a).save(tmp_path / "g16.png")
    (r, g, b), _ = rgb_at(tmp_path / "g16.png", (0, 0))
    assert 120 <= r <= 136 and r == g == b


def test_alpha_and_palette_transparency_composite_on_white(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    rgba.save(tmp_path / "t.png")
    assert rgb_at(tmp_path / "t.png", (0, 0))[0] == (255, 255, 255)
    half = Image.new("RGBA", (4, 4), (0, 0, 0, 128))
    half.save(tmp_path / "h.png")
    assert abs(rgb_at(tmp_path / "h.png", (0, 0))[0][0] - 127) <= 1
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    pal.info["transparency"] = 1
    pal.save(tmp_path / "p.png", transparency=1)
    assert rgb_at(tmp_path / "p.png", (0, 0))[0] == (255, 255, 255)
    opaque = Image.new("P", (4, 4), 1)
    opaque.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    opaque.save(tmp_path / "opaque.gif")
    assert rgb_at(tmp_path / "opaque.gif", (0, 0))[0] == (0, 255, 0)


def test_cmyk_one_bit_and_grey(tmp_path):
    Image.new("CMYK", (4, 4), (255, 0, 0, 0)).save(tmp_path / "c.jpg", quality=100)
    (r, g, b), _ = rgb_at(tmp_path / "c.jpg", (1, 1))
    assert r < 40 and g > 215 and b > 215  # pure cyan
    Image.new("1", (4, 4), 1).save(tmp_path / "one.png")
    assert rgb_at(tmp_path / "one.png", (0, 0))[0] == (255, 255, 255)
    Image.new("L", (4, 4), 77).save(tmp_path / "l.png")
    assert rgb_at(tmp_path / "l.png", (0, 0))[0] == (77, 77, 77)


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    (r, g, b), _ = rgb_at(tmp_path / "a.gif", (0, 0))
    assert r > 200 and b < 50


@pytest.mark.parametrize("content,kind", [(b"", "empty"), (b"hello, not a png", "unreadable")])
def test_bad_files_raise_decode_errors_naming_the_file(tmp_path, content, kind):
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(DecodeError) as err:
        load_rgb(p)
    assert err.value.kind == kind and "bad.png" in err.value.reason


def test_truncated_jpeg_and_dangling_link(tmp_path):
    Image.effect_noise((200, 200), 64).convert("RGB").save(tmp_path / "full.jpg")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "full.jpg").read_bytes()[:1500])
    with pytest.raises(DecodeError) as err:
        load_rgb(tmp_path / "cut.jpg")
    assert err.value.kind == "truncated"
    os.symlink(tmp_path / "gone.jpg", tmp_path / "link.jpg")
    with pytest.raises(DecodeError) as err:
        load_rgb(tmp_path / "link.jpg")
    assert err.value.kind == "missing"


def test_jpeg_draft_keeps_at_least_the_requested_size(tmp_path):
    Image.effect_noise((2000, 1200), 64).convert("RGB").save(tmp_path / "big.jpg")
    img, original = load_rgb(tmp_path / "big.jpg", draft_size=256)
    assert original == (2000, 1200) and min(img.size) >= 256 and img.size[0] < 2000
