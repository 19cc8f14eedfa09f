"""The decode side hands the network its pixels in the layout it runs in (issue 18): rows preprocessed as
(H, W, 3) stack into a channels_last batch with the same values as torchvision's (3, H, W) pipeline, and
the decode thread's tensor operations stay on that thread."""

import threading

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import functional as F

from explorer.core.data.preprocess import Preprocess
from explorer.core.engine.loading import collate, prepare
from explorer.core.threads import openmp_threads_here


def _images():
    rng = np.random.default_rng(3)
    for w, h in [(128, 128), (640, 480), (300, 1000), (100, 60)]:
        yield Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_normalisation_is_torchvisions_to_the_bit(interpolation):
    pp = Preprocess(256, 224, interpolation=interpolation)
    for im in _images():
        theirs = F.normalize(F.pil_to_tensor(pp.cropped(im)).float().div(255.0), pp.mean, pp.std)
        assert torch.equal(pp(im), theirs)
        assert torch.equal(pp.hwc(im), theirs.permute(1, 2, 0))  # the same numbers, (H, W, 3)


def test_a_batch_is_stacked_channels_last_with_the_same_values():
    pp = Preprocess(256, 224)
    images = list(_images())
    items = [(k, *prepare(lambda size, im=im: (im, im.size), f"/x/{k}.png", pp, hwc=True),
              torch.zeros(16, dtype=torch.uint8)) for k, im in enumerate(images)]
    items.append((9, *prepare(lambda size: (_ for _ in ()).throw(ValueError("bad")), "/x/bad.png", pp, hwc=True),
                  torch.zeros(16, dtype=torch.uint8)))
    idx, x, reasons, digests = collate(items)
    assert x.shape == (5, 3, 224, 224) and x.is_contiguous(memory_format=torch.channels_last)
    expected = torch.stack([pp(im) for im in images] + [torch.zeros(3, 224, 224)])
    assert torch.equal(x, expected)
    assert reasons[:4] == ["", "", "", ""] and reasons[4].startswith("error\t/x/bad.png: ValueError")


def test_the_decode_threads_openmp_threads_are_its_own():
    from threadpoolctl import threadpool_info

    def openmp_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"]

    before = openmp_threads()
    if not before:
        pytest.skip("no OpenMP runtime loaded")
    seen = {}

    main = torch.get_num_threads()

    def decode_thread():
        openmp_threads_here()
        torch.ones(1000).add_(1)  # torch's first operation on a thread resets its count, unless asked before
        seen["inside"] = openmp_threads()
        seen["torch"] = torch.get_num_threads()

    t = threading.Thread(target=decode_thread)
    t.start()
    t.join()
    assert set(seen["inside"]) == {1} and seen["torch"] == 1
    assert openmp_threads() == before and torch.get_num_threads() == main  # the forward's thread keeps its count


def test_a_lanes_chunk_decoded_into_its_reused_buffer_is_the_stacked_batch(photo_folder, tmp_path):
    import shutil

    from explorer.core.data.datasets import open_dataset
    from explorer.core.engine.loading import ImageRows

    folder = tmp_path / "photos"
    shutil.copytree(photo_folder, folder)
    (folder / "animals" / "broken.jpg").write_bytes(b"not a jpeg")
    dataset = open_dataset(folder)
    rows = ImageRows(dataset, Preprocess(72, 64), np.arange(len(dataset))[::-1].copy())
    buffer = torch.full((8, 64, 64, 3), float("nan"))  # what an earlier chunk left: every row is written
    for part in (range(0, 5), range(5, len(rows))):
        idx, x, reasons, digests = rows.chunk(part, buffer)
        e_idx, e_x, e_reasons, e_digests = collate([rows[k] for k in part])
        assert torch.equal(idx, e_idx) and reasons == e_reasons and torch.equal(digests, e_digests)
        assert torch.equal(x, e_x) and x.is_contiguous(memory_format=torch.channels_last)
        assert x.data_ptr() == buffer.data_ptr()  # no copy
    assert any(r.startswith("unreadable") for r in reasons + rows.chunk(range(0, 5), buffer)[2])
