"""exact_float32: TF32 off on CUDA while any user is inside, restored when the last one leaves.

Setting the flags needs no GPU, so the counting is tested here; tests/gpu/check.py checks the maps.
"""

import torch

from explorer.core.model.precision import exact_float32


def flags():
    return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32


def test_overlapping_users_keep_tf32_off_until_the_last_leaves():
    before = flags()
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = True, True
    try:
        first, second = exact_float32("cuda"), exact_float32(torch.device("cuda:0"))
        first.__enter__()
        assert flags() == (False, False)
        second.__enter__()
        first.__exit__(None, None, None)  # not nested: the first leaves while the second is inside
        assert flags() == (False, False)
        second.__exit__(None, None, None)
        assert flags() == (True, True)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def test_other_devices_change_nothing():
    before = flags()
    with exact_float32("cpu"):
        assert flags() == before
