"""Listing a folder of 200k small files: streaming progress, cancellation, and start-up cost.

Start-up = what reopening a finished run costs before the map can be drawn: listing the folder
(for the cache key) and finding the cached run, without loading the model.
"""

import tempfile
import time
from pathlib import Path

from explorer.core.data.datasets import scan_dataset


def make_files(root: Path, n: int, per_folder: int = 2000) -> None:
    png = (Path(__file__).parent / ".." / ".." / "resources" / "icons" / "explorer.svg").read_bytes()[:64]
    for i in range(n):
        folder = root / f"class{i // per_folder:03d}"
        if i % per_folder == 0:
            folder.mkdir(parents=True)
        (folder / f"img{i:06d}.png").write_bytes(png)


def main(n=200_000):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "big"
        t = time.perf_counter()
        make_files(root, n)
        print(f"created {n:,} files in {time.perf_counter() - t:.1f} s")
        (root / "class000" / "loop").symlink_to(root)  # a symlink loop must not hang the listing

        t = time.perf_counter()
        first_step = None
        steps = 0
        work = scan_dataset(root)
        while True:
            try:
                step = next(work)
            except StopIteration as stop:
                dataset = stop.value
                break
            steps += 1
            first_step = first_step or time.perf_counter() - t
        full = time.perf_counter() - t
        print(f"listing {len(dataset):,} files: {full:.2f} s ({len(dataset) / full:,.0f} files/s); "
              f"first progress step after {first_step * 1000:.0f} ms; {steps} steps")

        t = time.perf_counter()
        work = scan_dataset(root)
        for i, step in enumerate(work):
            if i == 10:
                work.close()
                break
        print(f"cancel after {step.done:,} files: stopped {1000 * (time.perf_counter() - t):.0f} ms after start")

        t = time.perf_counter()
        fingerprint = dataset.fingerprint()
        print(f"cache key of {len(dataset):,} files: {1000 * (time.perf_counter() - t):.0f} ms ({fingerprint[:12]})")

        from explorer.core.run.requests import EmbedRequest, find_finished

        t = time.perf_counter()
        find_finished(EmbedRequest(str(root)))
        print(f"start-up check for a cached run (list + key + index): {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
