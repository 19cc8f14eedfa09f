"""Lanes: threads that each run their own share of the work (the CPU engine: decode a chunk of rows and
run it through the network), and how the cores, the batch and the rows are shared out among them."""

from __future__ import annotations

import math
import queue
import threading

import torch

from ..threads import openmp_threads_here


MAX_LANES = 4  # more lanes would each run too few images at a time (the batch is shared out among them)


def lane_plan(batch_size: int, cores: int | None = None, max_lanes: int = MAX_LANES) -> tuple[int, int, int]:
    """(lanes, OpenMP threads per lane, images per chunk) for the CPU's lanes: the free cores (as
    embed_dataset set them for torch) shared out, and the batch too, so memory stays near one batch's.
    `max_lanes` 1: one lane on every core (a network that is not safe on two threads).

    A chunk holds at least 2 images: oneDNN runs a batch of one another way, and its features differ in
    the last bits from the same image's in a larger batch (a resumed run must equal an uninterrupted one).
    """
    cores = max(1, torch.get_num_threads() if cores is None else cores)
    lanes = max(1, min(cores, max_lanes, batch_size // 2))
    return lanes, max(1, cores // lanes), max(1, -(-batch_size // lanes))


CHUNK_SECONDS = 0.4  # a lane's forward pass of one chunk, at most (a progress step's pace)
HEARTBEAT_SECONDS = 0.1  # how long a generator over the lanes waits before it yields again (a cancel's wait)


class Pace:
    """Seconds an image took through the network on a lane, in the latest chunk: sizes the next chunks."""

    def __init__(self):
        self.per_image: float | None = None

    def observe(self, images: int, seconds: float) -> None:
        self.per_image = seconds / max(1, images)


def lane_chunks(n: int, chunk: int, lanes: int, pace: Pace | None = None):
    """Ranges of 0..n of up to `chunk` rows, and 2 at least:
    - about CHUNK_SECONDS of the network each once `pace` has seen some (8 rows until then), so that a
      cancel is quick whatever the model: 16 ResNet-18 images a chunk took 1.1 s to cancel in the app;
    - shrinking towards the end, so that the lanes finish together: with whole chunks to the end, one lane
      ran its last chunk alone (0.45 s of a core idle for 32 EfficientNet-Lite0 images on one thread).
    Sizes are powers of two (or `chunk`): each new batch shape costs oneDNN a new set-up and the heap
    new blocks; sized freely, chunks took the peak memory from 1.5 to 2.1 GB.
    """
    def two(x: float) -> int:  # the nearest power of two, at least 2
        return max(2, 1 << max(0, round(math.log2(max(x, 1.0)))))

    start = 0
    while start < n:
        size = min(chunk, two((n - start) / (2 * lanes)))
        if pace is not None:
            size = min(size, two(CHUNK_SECONDS / pace.per_image) if pace.per_image else 8)
        yield range(start, min(start + size, n))
        start += size


class Stopped(Exception):
    """A lane's forward pass, interrupted because the lanes were closed (a cancel)."""


def interruptible(module: torch.nn.Module, stop: threading.Event) -> list:
    """Forward pre-hooks on `module`'s leaf modules that raise Stopped once `stop` is set: a cancel then
    waits for one layer, not a whole chunk (32 ResNet-18 images on one loaded core took 1.4 s to cancel).
    Returns the hooks' handles. Register them before any lane runs the module."""
    def check(_module, _args):
        if stop.is_set():
            raise Stopped

    return [m.register_forward_pre_hook(check) for m in module.modules() if not any(True for _ in m.children())]


class Lanes:
    """n threads ("lanes") that each take the next item and run `work(item)` on their own OpenMP threads;
    the results come out of the iterator as they are done (not in order).

    The CPU engine's lanes each decode a chunk of rows and run it through the network. A decode thread
    beside a forward pass on every core took a core from the forward's OpenMP team at every layer, and
    the team's threads then waited for it; a lane that decodes holds up no other lane. Forward passes
    alone are faster too: two lanes of one thread ran EfficientNet-Lite0 at 145-152 images/s on 2 cores,
    one pass on two threads at 132-142 (tests/benchmarks/bench_allocator.py). One lane of one thread
    over a DataLoader is the prefetch thread that decodes the next batch while the network runs on the
    caller's thread (PIL and torch release the GIL while they work).

    Build the network before: decoding while it was being set up made the set-up (Python, fighting the
    lanes for the GIL) 8 times slower. A failure ends the iteration with it; close() stops the lanes
    after the item each is running, or at once where the work watches `stop` (interruptible).
    `heartbeat`: seconds after which the iterator gives None while the lanes are still at work, so that
    a generator over it can yield, and be closed, during a long chunk.
    """

    def __init__(self, items, work, *, lanes: int, threads: int = 1, stop: threading.Event | None = None,
                 heartbeat: float | None = None):
        self._items = iter(items)
        self._take = threading.Lock()
        self._work, self._threads = work, max(1, threads)
        self._stop = stop if stop is not None else threading.Event()
        self._heartbeat = heartbeat
        self._closed = False
        self._queue: queue.Queue = queue.Queue(maxsize=2 * max(1, lanes))
        self._running = max(1, lanes)
        self._lanes = [threading.Thread(target=self._lane, daemon=True, name=f"embedding lane {k}")
                       for k in range(self._running)]
        for lane in self._lanes:
            lane.start()

    def _next_item(self):
        with self._take:
            return next(self._items, None)

    def _lane(self):
        openmp_threads_here(self._threads)
        try:
            while not self._stop.is_set():
                item = self._next_item()
                if item is None:
                    break
                self._put(("batch", self._work(item)))
        except BaseException as exc:  # surfaces in the consumer
            self._stop.set()
            self._put(("error", exc), always=True)
        finally:
            self._put(("end", None), always=True)

    def _put(self, item, always: bool = False) -> None:
        """Waits while the consumer is busy; gives up once stopped, or (`always`: an error or a lane's end,
        which the consumer counts on) once closed."""
        while not (self._closed if always else self._stop.is_set()):
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self):
        return self

    def __next__(self):
        while self._running and not self._closed:
            try:
                kind, value = self._queue.get(timeout=self._heartbeat)
            except queue.Empty:
                return None
            if kind == "batch":
                return value
            if kind == "error":
                self.close()
                raise value
            self._running -= 1
        raise StopIteration

    def close(self) -> None:
        self._stop.set()
        self._closed = True
        for lane in self._lanes:
            while lane.is_alive():
                try:
                    self._queue.get(timeout=0.05)  # unblock a waiting lane
                except queue.Empty:
                    pass
                lane.join(timeout=0.05)
