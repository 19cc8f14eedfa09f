"""Listing a folder: names that are not UTF-8, folders that cannot be read, formats we do not read,
and phone photos (HEIC/HEIF, AVIF). Nothing the user put in the folder vanishes without a word."""

import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from explorer.core.data import datasets
from explorer.core.data.datasets import describe, open_dataset
from explorer.core.data.decode import load_rgb, oriented_size
from explorer.core.errors import DatasetError


def gradient(w=64, h=48, shift=0):
    """A smooth picture (lossy codecs keep it close), different for each `shift`."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 4 + shift) % 256, (y * 5) % 256, ((x + y) * 2 + 3 * shift) % 256], -1).astype(np.uint8)


def write_png_bytes_name(folder, name: bytes, pixels: np.ndarray) -> None:
    """A PNG whose file name is raw bytes (need not be UTF-8), written through a bytes path."""
    from io import BytesIO

    buf = BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    fd = os.open(os.path.join(os.fsencode(str(folder)), name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, buf.getvalue())
    finally:
        os.close(fd)


# --- 11. names that are not valid UTF-8 ---------------------------------------------------------

def test_a_name_that_is_not_utf8_is_listed_decoded_and_fingerprinted_exactly(tmp_path):
    cats = tmp_path / "cats"
    cats.mkdir()
    Image.fromarray(gradient()).save(cats / "ok.png")
    write_png_bytes_name(cats, b"bad\xff.png", gradient(shift=40))

    ds = open_dataset(tmp_path)
    bad = "cats/" + os.fsdecode(b"bad\xff.png")
    assert [it.path for it in ds.items] == [bad, "cats/ok.png"]
    i = [it.path for it in ds.items].index(bad)
    assert ds.labels[i] == "cats"
    img, size = ds.load(i)
    assert size == (64, 48)
    np.testing.assert_array_equal(np.asarray(img), gradient(shift=40))

    key = ds.fingerprint()
    assert key == open_dataset(tmp_path).fingerprint()  # stable
    # the file changes (other size) -> the key changes
    write_png_bytes_name(cats, b"bad\xff.png", np.zeros((300, 200, 3), np.uint8) + 7)
    changed = open_dataset(tmp_path).fingerprint()
    assert changed != key
    # renamed to another invalid byte -> the key changes too (the bytes are exact, not replaced by '?')
    os.rename(os.path.join(os.fsencode(str(cats)), b"bad\xff.png"), os.path.join(os.fsencode(str(cats)), b"bad\xfe.png"))
    assert open_dataset(tmp_path).fingerprint() not in (key, changed)


def test_a_class_folder_whose_name_is_not_utf8_is_a_label_and_describe_prints(tmp_path):
    folder = os.path.join(os.fsencode(str(tmp_path)), b"d\xe9j\xe0")  # latin-1 'déjà'
    os.mkdir(folder)
    write_png_bytes_name(os.fsdecode(folder), b"x.png", gradient())
    Image.fromarray(gradient()).save(tmp_path / "flat.png")
    ds = open_dataset(tmp_path)
    assert ds.classes == [os.fsdecode(b"d\xe9j\xe0")]
    ds.fingerprint()
    line = describe(ds)
    line.encode("utf-8")  # printable: no lone surrogates reach a terminal
    assert line.startswith("2 images, 1 classes")


def test_fingerprint_of_utf8_names_is_unchanged_so_cached_runs_are_still_found(tmp_path):
    for rel in ["a/1.png", "b/café-日本.png", "flat.png"]:
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        Image.fromarray(gradient()).save(tmp_path / rel)
    ds = open_dataset(tmp_path)
    # the formula every existing run's cache key was made with
    h = hashlib.sha256(ds.root.encode())
    for it in ds.items:
        h.update(f"{it.path}\0{it.label}\0{it.size}\0{it.mtime_ns}\n".encode())
    assert ds.fingerprint() == h.hexdigest()


# --- 14. folders that cannot be read, files in formats we do not read -------------------------

def make_classes(root, names=("birds", "cats", "dogs"), per_class=2):
    for c in names:
        (root / c).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            Image.fromarray(gradient(shift=k)).save(root / c / f"{k}.png")


@pytest.fixture
def deny(monkeypatch):
    """Make os.scandir refuse the given folders, as it does for a user without read permission
    (the suite runs as root, for whom chmod 000 blocks nothing)."""
    denied: set[str] = set()
    real = os.scandir

    def scandir(path="."):
        if os.path.realpath(os.fspath(path)) in denied:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return lambda p: denied.add(os.path.realpath(p))


def test_an_unreadable_class_folder_is_reported_not_silently_dropped(tmp_path, deny):
    make_classes(tmp_path)
    (tmp_path / "dogs" / "private").mkdir()
    Image.fromarray(gradient()).save(tmp_path / "dogs" / "private" / "p.png")
    deny(tmp_path / "cats")
    deny(tmp_path / "dogs" / "private")
    ds = open_dataset(tmp_path)
    assert [it.path for it in ds.items] == ["birds/0.png", "birds/1.png", "dogs/0.png", "dogs/1.png"]
    assert ds.skipped == [("cats", "unreadable-folder", "permission denied"),
                          ("dogs/private", "unreadable-folder", "permission denied")]
    line = describe(ds)
    assert line.startswith("4 images, 2 classes")
    assert "not listed: 2 unreadable folders (cats: permission denied, dogs/private: permission denied)" in line


def test_an_unreadable_root_says_so(tmp_path, deny):
    make_classes(tmp_path)
    deny(tmp_path)
    with pytest.raises(DatasetError, match="permission denied"):
        open_dataset(tmp_path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any folder")
def test_a_really_unreadable_folder_is_reported(tmp_path):
    make_classes(tmp_path)
    os.chmod(tmp_path / "cats", 0)
    try:
        ds = open_dataset(tmp_path)
    finally:
        os.chmod(tmp_path / "cats", 0o755)
    assert ds.classes == ["birds", "dogs"]
    assert ds.skipped == [("cats", "unreadable-folder", "permission denied")]


def test_unsupported_image_formats_are_counted_with_a_reason_other_files_are_not(tmp_path):
    make_classes(tmp_path, ("cats",))
    for name in ["logo.svg", "poster.psd", "scan.jxl", "IMG_1.CR2", "raw.dng", "render.exr",
                 "notes.txt", "table.csv", "README", ".DS_Store", "._logo.svg", ".hidden.psd"]:
        (tmp_path / "cats" / name).write_bytes(b"not really")
    ds = open_dataset(tmp_path)
    assert len(ds) == 2
    skipped = {path: (kind, reason) for path, kind, reason in ds.skipped}
    assert set(skipped) == {"cats/logo.svg", "cats/poster.psd", "cats/scan.jxl", "cats/IMG_1.CR2",
                            "cats/raw.dng", "cats/render.exr"}
    assert all(kind == "unsupported" for kind, _ in skipped.values())
    assert "vector" in skipped["cats/logo.svg"][1] and "PNG" in skipped["cats/logo.svg"][1]
    assert "flatten" in skipped["cats/poster.psd"][1]
    assert "RAW" in skipped["cats/IMG_1.CR2"][1] and "RAW" in skipped["cats/raw.dng"][1]
    assert [p for p, _, _ in ds.skipped] == sorted(skipped)  # a stable order
    line = describe(ds)
    assert line.startswith("2 images, 1 classes")
    assert "not listed: 6 unsupported files (" in line
    for ext in (".svg", ".psd", ".jxl", ".cr2", ".dng", ".exr"):
        assert ext in line


def test_a_folder_with_only_unsupported_files_says_what_was_found(tmp_path):
    (tmp_path / "a.svg").write_text("<svg/>")
    (tmp_path / "b.psd").write_bytes(b"8BPS")
    with pytest.raises(DatasetError, match=r"No images found.*2 unsupported files"):
        open_dataset(tmp_path)


def test_nothing_skipped_keeps_describe_as_it_was(tmp_path):
    make_classes(tmp_path, ("a", "b"), per_class=1)
    ds = open_dataset(tmp_path)
    assert ds.skipped == []
    assert describe(ds) == '2 images, 2 classes ({"a": 1, "b": 1})'


# --- phone photos: HEIC/HEIF and AVIF -----------------------------------------------------------

def test_avif_and_heic_are_listed_and_decoded(tmp_path):
    from PIL import features

    pillow_heif = pytest.importorskip("pillow_heif")
    assert features.check("avif"), "this Pillow was built without AVIF"
    src = {name: gradient(shift=k * 30) for k, name in enumerate(["a.avif", "b.heic", "c.HEIC", "d.heif"])}
    phone = tmp_path / "phone"
    phone.mkdir()
    for name, pixels in src.items():
        if name.lower().endswith(".avif"):
            Image.fromarray(pixels).save(phone / name, quality=90)
        else:  # written without registering an opener: our decoder must read it on its own
            pillow_heif.from_pillow(Image.fromarray(pixels)).save(phone / name, quality=90)
    Image.fromarray(gradient()).save(phone / "e.png")
    ds = open_dataset(tmp_path)
    assert [it.path for it in ds.items] == ["phone/" + n for n in ["a.avif", "b.heic", "c.HEIC", "d.heif", "e.png"]]
    assert ds.skipped == []
    for i, name in enumerate(src):
        img, size = ds.load(i)
        assert img.mode == "RGB" and size == (64, 48) and oriented_size(ds.full_path(i)) == (64, 48)
        diff = np.abs(np.asarray(img, np.int16) - src[name]).mean()
        assert diff < 10, (name, diff)


def test_heic_exif_rotation_is_applied_once(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 10, 10))  # red top-left corner as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    pillow_heif.from_pillow(img).save(tmp_path / "rot.heic", quality=95, exif=exif.tobytes())
    loaded, original = load_rgb(tmp_path / "rot.heic")
    assert loaded.size == (20, 40) and original == (20, 40)
    r, g, b = loaded.getpixel((15, 3))  # the red corner is now top-right
    assert r > 200 and b < 60


def run_python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_without_pillow_heif_heic_files_are_unsupported_with_the_fix(tmp_path):
    (tmp_path / "x.heic").write_bytes(b"\0\0\0\x18ftypheic")
    Image.fromarray(gradient()).save(tmp_path / "y.png")
    out = run_python(f"""
        import sys
        sys.modules["pillow_heif"] = None  # as if it were not installed
        from explorer.core.data.datasets import open_dataset, describe
        from explorer.core.data.decode import load_rgb
        from explorer.core.errors import DecodeError
        ds = open_dataset({str(tmp_path)!r})
        print([it.path for it in ds.items])
        print([tuple(s) for s in ds.skipped])
        print(describe(ds))
        try:
            load_rgb({str(tmp_path / "x.heic")!r})
        except DecodeError as exc:
            print(exc.kind, exc.reason)
    """).splitlines()
    assert out[0] == "['y.png']"
    assert out[1].startswith("[('x.heic', 'unsupported', ") and "pip install pillow-heif" in out[1]
    assert "1 unsupported file (" in out[2] and ".heic" in out[2] and "pillow-heif" in out[2]
    assert out[3].startswith("unreadable ") and "pillow-heif" in out[3]


def test_importing_the_core_leaves_pillows_registry_alone_the_decoder_registers_heif(tmp_path):
    pytest.importorskip("pillow_heif")
    Image.fromarray(gradient()).save(tmp_path / "y.png")
    out = run_python(f"""
        from PIL import Image
        import explorer.core.data.datasets, explorer.core.data.decode, explorer.core.data.sources
        from explorer.core.data.datasets import open_dataset
        ds = open_dataset({str(tmp_path)!r})
        Image.init()
        print("HEIF" in Image.OPEN)
        ds.load(0)
        print("HEIF" in Image.OPEN)
    """).split()
    assert out == ["False", "True"]
