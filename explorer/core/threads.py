"""How many threads heavy work uses: the cores this process may run on that are not already busy.

Every core is not always best: on a shared 2-core machine under load, openTSNE on all cores was 1.46x
slower than on one, and OpenBLAS's two threads lost to one (threads wait for each other and for the
other programs). So t-SNE, torch and the neighbour search size themselves to the free cores when
they start: the cores in this process's affinity mask less those busy with other work now (load_average),
at least 1.
EXPLORER_THREADS (the CLI's --threads sets it) fixes the number instead.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from .errors import ExplorerError

ENV = "EXPLORER_THREADS"


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def load_average() -> float:
    """How many cores other work keeps busy now.

    On Linux, the threads runnable at this moment (/proc/loadavg's fourth field, less this reader), the
    median of a few readings: the 1-minute load average lags by a minute, so work that had just ended
    (the previous job, a benchmark's previous round) halved the threads of the next. Elsewhere the
    1-minute load average.
    """
    import time

    global _last
    now = time.monotonic()
    if _last is not None and now - _last[0] < _FRESH:  # a search per hover or click must not wait 20 ms
        return _last[1]
    runnable = _runnable()
    if runnable is not None:
        _last = (now, runnable)
        return runnable
    try:
        return max(0.0, os.getloadavg()[0])
    except (AttributeError, OSError):  # Windows has no load average: assume the cores are free
        return 0.0


_FRESH = 2.0  # seconds a reading of the runnable threads is reused
_last: tuple[float, float] | None = None


def _runnable(readings: int = 5, gap: float = 0.005) -> float | None:
    import statistics
    import time

    counts = []
    for k in range(readings):
        try:
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return None
        counts.append(max(0, running - 1))  # this thread, reading
        if k < readings - 1:
            time.sleep(gap)
    return float(statistics.median(counts))


def free_cores(*, cores: int | None = None, load: float | None = None) -> int:
    """Threads for heavy work now: EXPLORER_THREADS if set, else the usable cores less the load, >= 1."""
    fixed = os.environ.get(ENV, "").strip()
    if fixed:
        return parse_threads(fixed, f"The environment variable {ENV}")
    cores = usable_cores() if cores is None else cores
    load = load_average() if load is None else load
    return max(1, min(cores, int(cores - load + 0.5)))


def parse_threads(text: str, what: str = "--threads") -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ExplorerError(f"{what} must be a whole number of threads, at least 1 (got {text!r}).")
    return n


_controller = None


@contextmanager
def blas_threads(n: int):
    """numpy's BLAS limited to n threads inside the block (threadpoolctl; nothing when it is absent)."""
    global _controller
    try:
        if _controller is None:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
        limit = _controller.limit(limits=n, user_api="blas")
    except Exception:  # threadpoolctl missing or a BLAS it cannot drive: leave BLAS as it is
        yield
        return
    with limit:
        yield


def openmp_threads_here(n: int = 1) -> None:
    """Torch's operations called from this thread run on n OpenMP threads (a helper: the decode thread,
    an embedding lane), so that its work does not wake a team of threads on the cores others run on.

    OpenMP's thread count belongs to the calling thread (threadpoolctl sets it on this one), so the
    other threads keep theirs.
    """
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        # torch sets a thread's OpenMP count to its process-wide one when the thread first asks for it:
        # ask first, or that would undo the limit below at the thread's first tensor operation (the two
        # embedding lanes ran two threads each, four on 2 cores, until this)
        torch.get_num_threads()
    try:
        from threadpoolctl import ThreadpoolController

        # a fresh look at the loaded libraries (a few ms, once a run): the shared controller may predate them
        ThreadpoolController().limit(limits=n, user_api="openmp")  # not restored: it ends with the thread
    except Exception:  # threadpoolctl missing or no OpenMP loaded: nothing to limit
        pass
