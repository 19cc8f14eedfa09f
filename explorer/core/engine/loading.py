"""The input side of local embedding: files read, decoded and preprocessed in DataLoader workers, or in
the CPU's lanes (lanes.Lanes, each into its own buffer), JPEGs optionally left to the GPU (gpu_jpeg)."""

from __future__ import annotations

import numpy as np
import torch

from ..data.datasets import Dataset
from ..errors import DecodeError
from . import gpu_jpeg


class ImageRows(torch.utils.data.Dataset):
    """Decodes and preprocesses rows (in DataLoader workers, or a lane's chunks); failures travel as reasons."""

    def __init__(self, dataset: Dataset, preprocess, indices: np.ndarray, gpu_jpegs: bool = False):
        self.dataset = dataset
        self.preprocess = preprocess
        self.indices = indices
        self.gpu_jpegs = gpu_jpegs  # JPEGs travel as bytes, for the GPU to decode (gpu_jpeg)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int):
        i = int(self.indices[k])
        jpeg, digest = None, None
        if self.gpu_jpegs:
            try:
                jpeg, digest = gpu_jpeg.read_jpeg(self.dataset.full_path(i))
            except OSError:
                pass  # the CPU path below names what is wrong with the file
        digest = torch.frombuffer(bytearray(digest or self.dataset.content_digest(i)), dtype=torch.uint8)
        if jpeg is not None:
            return i, jpeg, "", digest
        return (i, *self.prepared(i, hwc=True), digest)

    def prepared(self, i: int, hwc: bool = False, out: torch.Tensor | None = None) -> tuple[torch.Tensor, str]:
        """Row i decoded on the CPU and preprocessed (3, crop, crop), or (crop, crop, 3) with `hwc` (into
        `out`, where given); or zeros and why it failed."""
        return prepare(lambda draft_size: self.dataset.load(i, draft_size=draft_size), self.dataset.full_path(i),
                       self.preprocess, hwc=hwc, out=out)

    def chunk(self, ks: range, buffer: torch.Tensor):
        """Rows ks (positions in this set) decoded into the first len(ks) rows of `buffer` ((n, crop, crop, 3),
        float32), as collate gives them: (idx, pixels (len(ks), 3, crop, crop) channels_last, reasons,
        digests). A lane reuses its buffer chunk after chunk: no new pixel memory, and no stacking copy
        (0.1-0.2 ms an image)."""
        out = buffer[:len(ks)]
        rows = [self.indices[k] for k in ks]
        reasons = [self.prepared(int(i), hwc=True, out=out[j])[1] for j, i in enumerate(rows)]
        digests = torch.frombuffer(bytearray(b"".join(self.dataset.content_digest(int(i)) for i in rows)),
                                   dtype=torch.uint8).view(len(rows), -1)
        return torch.tensor(rows, dtype=torch.int64), out.permute(0, 3, 1, 2), reasons, digests


def prepare(load, path: str, preprocess, hwc: bool = False, out: torch.Tensor | None = None
            ) -> tuple[torch.Tensor, str]:
    """load(draft_size) -> (image, size), preprocessed ((3, crop, crop), or (crop, crop, 3) with `hwc`, into
    `out` where given); or zeros and the failure as a run keeps it ("kind\treason"). The one place the
    engines (local, GPU fallback, Ray) word a failure."""
    try:
        image = load(preprocess.resize)[0]
        return (preprocess.hwc(image, out) if hwc else preprocess(image)), ""
    except DecodeError as exc:
        reason = f"{exc.kind}\t{exc.reason}"
    except Exception as exc:  # a decoder bug must not end the run
        reason = f"error\t{path}: {type(exc).__name__}: {exc}"
    if out is not None:
        return out.zero_(), reason
    shape = (preprocess.crop, preprocess.crop, 3) if hwc else (3, preprocess.crop, preprocess.crop)
    return torch.zeros(shape), reason


def collate(items):
    """default_collate, except that pixels stay a list when some are JPEG bytes for the GPU."""
    idx = torch.tensor([it[0] for it in items], dtype=torch.int64)
    pixels = [it[1] for it in items]
    if all(isinstance(p, torch.Tensor) for p in pixels):
        # rows come as (H, W, 3): stacked and viewed as (B, 3, H, W) they are channels_last, the layout the
        # network runs in, in one contiguous copy (stacking (3, H, W) rows and converting cost 0.8 ms an image)
        pixels = torch.stack(pixels).permute(0, 3, 1, 2)
    else:  # the files' bytes as views of one tensor: one shared-memory block per batch, not one per file
        jpegs = [p for p in pixels if isinstance(p, gpu_jpeg.Jpeg)]
        flat, start = torch.cat([j.data for j in jpegs]), 0
        for j in jpegs:
            j.data, start = flat[start:start + len(j.data)], start + len(j.data)
    return idx, pixels, [it[2] for it in items], torch.stack([it[3] for it in items])


def on_device(rows: "ImageRows", idx: np.ndarray, pixels: list, reasons: list, device: torch.device):
    """A batch's pixels as one tensor on `device`: JPEGs decoded there, the rest copied there.

    A JPEG the GPU decoder refuses is decoded on the CPU here, and fails as it would have there."""
    crop = rows.preprocess.crop
    out = torch.empty((len(pixels), 3, crop, crop), device=device, memory_format=torch.channels_last)
    jpegs = [k for k, p in enumerate(pixels) if isinstance(p, gpu_jpeg.Jpeg)]
    for k, image in zip(jpegs, gpu_jpeg.decode([pixels[k] for k in jpegs], rows.preprocess, device)):
        if image is None:
            image, reasons[k] = rows.prepared(int(idx[k]))
        pixels[k] = image
    here = set(jpegs)
    for k, p in enumerate(pixels):  # decoded here (3, H, W), or by a worker on the CPU (H, W, 3): ImageRows
        out[k] = (p if k in here else p.permute(2, 0, 1)).to(device, non_blocking=True)
    return out
