"""Full float32 on CUDA where the numbers are the result: no TF32 inside convolutions and matmuls.

PyTorch lets cuDNN's convolutions use TF32 (10-bit mantissa) by default. That is fine for embedding
(which runs in float16 anyway) but not for attribution maps: on an H200 it put integrated gradients
at a cosine of 0.9946 to the CPU's map. The flags are process-wide, so overlapping users (the GUI's
lanes run in threads) are counted and the last one out restores what was there.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import torch

_lock = threading.Lock()
_users = 0
_saved: tuple[bool, bool] | None = None


@contextmanager
def exact_float32(device: torch.device | str):
    """TF32 off while inside (CUDA only; elsewhere nothing changes)."""
    if torch.device(device).type != "cuda":
        yield
        return
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _saved is not None:
                torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = _saved
