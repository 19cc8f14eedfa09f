"""Embedding on CUDA runs under float16 autocast; a batch that overflows float16 runs again in float32.

The CUDA path is exercised by tests/gpu/check.py; here CPU autocast stands in for it (same logic).
"""

import torch
from torch import nn

from explorer.core.engine.embedding import half_forward


class Scaled(nn.Module):
    """Two linear layers that multiply by `gain` each: gain 1e3 overflows float16 (1e6 > 65504)."""

    def __init__(self, gain: float):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False)
        with torch.no_grad():
            self.a.weight.copy_(torch.eye(4) * gain)
            self.b.weight.copy_(torch.eye(4) * gain)

    def forward(self, x):
        return {"out": self.b(self.a(x))}


def test_runs_in_float16_when_it_fits():
    x = torch.full((2, 4), 1.0)
    out = half_forward(Scaled(10.0), x, "cpu")["out"]
    assert out.dtype == torch.float16
    assert torch.allclose(out.float(), torch.full((2, 4), 100.0))


def test_overflow_runs_again_in_float32():
    x = torch.full((2, 4), 1.0)
    module = Scaled(1e3)
    with torch.autocast("cpu", dtype=torch.float16):
        assert torch.isinf(module(x)["out"]).all()  # the overflow the retry exists for
    out = half_forward(module, x, "cpu")["out"]
    assert out.dtype == torch.float32
    assert torch.equal(out, torch.full((2, 4), 1e6))
