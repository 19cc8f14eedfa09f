"""GPU JPEG decoding (issue 16): the same pixels, orientation and failures as the CPU path.

torchvision decodes JPEGs on the CPU with the same call, so the whole path runs here with the
device set to the CPU; tests/gpu/check.py runs it on CUDA.
"""

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from torchvision.io import ImageReadMode, decode_jpeg

from explorer.core.data.datasets import open_dataset
from explorer.core.data.decode import load_rgb
from explorer.core.engine import embedding, gpu_jpeg
from explorer.core.engine.embedding import embed_dataset
from explorer.core.model.zoo import load_model
from explorer.core.progress import run_to_end

PIL_OPS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
           5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
           8: Image.Transpose.ROTATE_90}


def photo(w=64, h=40, seed=0) -> Image.Image:
    """Smooth colours and a corner marker: every turn of the image looks different."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], -1)
    a[:8, :8] = 255
    a += rng.normal(0, 4, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def jpeg_bytes(im: Image.Image, orientation: int = 1, **kw) -> bytes:
    buf = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    im.save(buf, "JPEG", quality=95, exif=exif.tobytes(), **kw)
    return buf.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_turns_as_pillow_exif_transpose(orientation):
    stored = np.asarray(photo())
    x = torch.from_numpy(stored.copy()).permute(2, 0, 1)
    ours = gpu_jpeg.upright(x, orientation).permute(1, 2, 0).numpy()
    pil = Image.fromarray(stored)
    want = np.asarray(pil.transpose(PIL_OPS[orientation]) if orientation != 1 else pil)
    np.testing.assert_array_equal(ours, want)


def test_read_jpeg_sends_rgb_and_grey_jpegs_and_keeps_the_rest_on_the_cpu(tmp_path):
    cases = {"rgb.jpg": jpeg_bytes(photo(), 6), "grey.jpg": jpeg_bytes(photo().convert("L")),
             "cmyk.jpg": None, "png.jpg": None, "empty.jpg": b""}
    whole = jpeg_bytes(photo(), 6)
    cases["cut.jpg"] = whole[:len(whole) * 2 // 3]  # its header intact
    cases["trailing.jpg"] = whole + b"camera maker's extra bytes"
    cmyk = io.BytesIO()
    photo().convert("CMYK").save(cmyk, "JPEG")
    cases["cmyk.jpg"] = cmyk.getvalue()
    png = io.BytesIO()
    photo().save(png, "PNG")
    cases["png.jpg"] = png.getvalue()  # a PNG named .jpg
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    got = {name: gpu_jpeg.read_jpeg(str(tmp_path / name)) for name in cases}
    assert got["rgb.jpg"][0].orientation == 6 and got["grey.jpg"][0].orientation == 1
    assert all(got[name][0] is None for name in ("cmyk.jpg", "png.jpg", "empty.jpg", "cut.jpg"))
    assert got["trailing.jpg"][0] is not None
    from explorer.core.data.datasets import file_digest

    for name in cases:  # the digest --verify compares, from the one read
        assert got[name][1] == file_digest(str(tmp_path / name))


def test_prepared_pixels_match_the_cpu_path(tmp_path):
    """Decode + upright + resize + crop on the tensor path = Pillow's path, to a few grey levels."""
    model = load_model("resnet18", "random", image_size=64)
    pre = model.preprocess
    for orientation, size in ((1, (300, 200)), (6, (240, 320)), (3, (97, 131))):
        path = tmp_path / f"p{orientation}.jpg"
        path.write_bytes(jpeg_bytes(photo(*size, seed=orientation), orientation))
        jpeg, _ = gpu_jpeg.read_jpeg(str(path))
        ours = gpu_jpeg.decode([jpeg], pre, torch.device("cpu"))[0]
        cpu = pre(load_rgb(path, draft_size=pre.resize)[0])
        grey = (ours - cpu).abs() * torch.tensor(pre.std).view(3, 1, 1) * 255
        assert ours.shape == cpu.shape
        assert float(grey.mean()) < 1.0 and float(grey.max()) < 12, (orientation, float(grey.max()))


def test_a_file_the_decoder_refuses_is_left_to_the_cpu():
    model = load_model("resnet18", "random", image_size=64)
    good = gpu_jpeg.Jpeg(torch.frombuffer(bytearray(jpeg_bytes(photo())), dtype=torch.uint8), 1)
    broken = gpu_jpeg.Jpeg(torch.frombuffer(bytearray(jpeg_bytes(photo())[:200]), dtype=torch.uint8), 1)
    out = gpu_jpeg.decode([good, broken, good], model.preprocess, torch.device("cpu"))
    assert out[1] is None and out[0] is not None and torch.equal(out[0], out[2])


@pytest.fixture
def mixed_folder(tmp_path):
    return make_mixed(tmp_path / "mixed")


def make_mixed(root):
    """JPEGs (turned, grey, progressive), a CMYK JPEG, a PNG with alpha, a truncated JPEG, a text file as .jpg."""
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
    (root / "a" / "plain.jpg").write_bytes(jpeg_bytes(photo(120, 90, 1)))
    (root / "a" / "turned.jpg").write_bytes(jpeg_bytes(photo(90, 120, 2), 6))
    (root / "a" / "grey.jpg").write_bytes(jpeg_bytes(photo(100, 100, 3).convert("L")))
    (root / "b" / "progressive.jpg").write_bytes(jpeg_bytes(photo(130, 80, 4), progressive=True))
    photo(80, 80, 5).convert("CMYK").save(root / "b" / "cmyk.jpg", "JPEG")
    rgba = photo(70, 90, 6).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(root / "b" / "alpha.png")
    whole = jpeg_bytes(photo(120, 90, 7))
    (root / "b" / "truncated.jpg").write_bytes(whole[:len(whole) * 2 // 3])  # its header reads fine
    (root / "b" / "notes.jpg").write_bytes(b"not an image at all")
    return root


def test_embedding_with_gpu_decoding_matches_the_cpu_run(mixed_folder, tmp_path, monkeypatch):
    """The whole path (workers send bytes, the device decodes) with the CPU standing in for the GPU:
    same rows, same failures with the same reasons, features within cosine 0.999, its own cache key."""
    monkeypatch.setattr(gpu_jpeg, "available", lambda device: True)
    dataset = open_dataset(mixed_folder)
    model = load_model("resnet18", "random", image_size=64)
    cpu = run_to_end(embed_dataset(dataset, model, "layer3.1.add", out=tmp_path / "cpu", device="cpu",
                                   decode="cpu", batch_size=3)).run
    sent = []
    real = gpu_jpeg.decode
    monkeypatch.setattr(gpu_jpeg, "decode", lambda jpegs, *a: sent.extend(jpegs) or real(jpegs, *a))
    gpu = run_to_end(embed_dataset(dataset, model, "layer3.1.add", out=tmp_path / "gpu", device="cpu",
                                   decode="gpu", batch_size=3, workers=1)).run
    assert len(sent) == 4  # plain, turned, grey, progressive (the truncated one is the CPU's: nvJPEG decodes it)
    assert gpu.manifest["decode"] == "gpu" and cpu.manifest["decode"] == "cpu"
    assert [r.path for r in gpu.rows] == [r.path for r in cpu.rows]
    statuses = [cpu.status(i) for i in range(len(cpu))]
    assert [gpu.status(i) for i in range(len(gpu))] == statuses
    assert sorted(r.path for r, s in zip(cpu.rows, statuses) if s[0] != "ok") == ["b/notes.jpg", "b/truncated.jpg"]
    ok = np.asarray(cpu.state) == 1
    a, b = np.asarray(cpu.features, np.float64)[ok], np.asarray(gpu.features, np.float64)[ok]
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.min() > 0.999, cos
    assert np.array_equal(np.asarray(gpu.content), np.asarray(cpu.content))
    key = embedding.run_key
    assert key(dataset, model, ["layer3.1.add"], None, "gpu") != key(dataset, model, ["layer3.1.add"], None, "cpu")
