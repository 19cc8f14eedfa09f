"""The allocator settings of the `explorer` process (issue 18): a CNN's activations
reuse the pages of the pass before instead of faulting fresh zeroed ones in. Counted in page faults, not timed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = r"""
import resource, sys, threading
from explorer.allocator import tune
print(tune())
import torch
from torch import nn

net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU()).eval()
x = torch.randn(8, 3, 224, 224)  # activations of 51 MB: glibc would mmap and unmap each one


def forward(out):
    with torch.inference_mode():
        net(x)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(3):
            net(x).mean()
        out.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)


out = []
thread = threading.Thread(target=forward, args=(out,))  # as the app's job lanes run it
thread.start()
thread.join()
print(out[0])
"""


def probe(env_value):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("EXPLORER_MALLOC", None)
    if env_value is not None:
        env["EXPLORER_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True).stdout
    state, faults = out.strip().splitlines()
    return state, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's settings: Linux only")
def test_big_blocks_are_reused_not_faulted_in_again():
    state, faults = probe(None)
    system_state, system_faults = probe("system")
    assert state.startswith("tuned") and system_state.startswith("system")
    pages = 3 * 2 * (8 * 32 * 224 * 224 * 4) // 4096  # three passes, two 51 MB activations each
    assert system_faults > 0.8 * pages  # glibc's default: every activation faulted in anew
    assert faults < system_faults / 5, (faults, system_faults)


def test_the_explorer_command_tunes_before_anything_else():
    source = (ROOT / "explorer" / "__main__.py").read_text()
    run = source[source.index("def run()"):]
    assert run.index("tune()") < run.index("main()")
