"""glibc's allocator, set for a process that pushes 100 MB activations through a CNN on the CPU.

By default glibc serves every allocation above 32 MB with a fresh mmap and unmaps it when freed,
so each forward pass of a batch page-faults its activations in again and the kernel zeroes every
page: 1.3 million faults for four batches of 64 through EfficientNet-Lite0, and on 2 cores 18-21 s
of a 46-52 s embedding went to it (issue 18). Taking big blocks from the heap instead (no mmap)
and keeping up to 1 GiB of freed memory there lets PyTorch reuse the same pages batch after batch
(about 100x fewer faults). One arena: worker threads (the app's job lanes) allocate from the main
heap too, since a thread's own arena cannot hold a block above 64 MB and would mmap it after all.

Set at the start of the `explorer` process (before any thread exists), on Linux with glibc only;
a library caller's process is left alone. EXPLORER_MALLOC=system keeps glibc's defaults.
The price is that freed memory is kept for reuse: the process's resident size stays near its peak.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
KEEP = 1 << 30  # freed bytes kept at the top of the heap before any is given back


def tune() -> str:
    """Apply the settings; returns what was done (for the self-test and the benchmark)."""
    if os.environ.get("EXPLORER_MALLOC", "").lower() == "system":
        return "system (EXPLORER_MALLOC=system)"
    if not sys.platform.startswith("linux"):
        return "system (not Linux)"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # glibc's: musl has mallopt as a stub
    except (OSError, AttributeError):
        return "system (not glibc)"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = [mallopt(M_MMAP_MAX, 0), mallopt(M_TRIM_THRESHOLD, KEEP), mallopt(M_ARENA_MAX, 1)]
    return "tuned (no mmap, 1 GiB kept, one arena)" if all(done) else "system (mallopt refused)"
