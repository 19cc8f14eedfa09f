"""What knowing that a file changed costs, on 200k files (issue 17, item 5).

- The default probe is the status-change time (ctime), read by the listing's own stat: no file is
  read. Measured: the listing with it, and comparing it with a run's signatures.
- `embed --verify` reads every file again and hashes it (BLAKE2b-128). Measured: files per second on
  200k small files (per-file overhead) and MB/s on larger ones (throughput), page cache warm as after
  a listing; a cold disk adds its read time on top.
"""

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np

from explorer.core.data.datasets import file_digest, open_dataset


def make(root: Path, n: int, size: int, per_folder: int = 2000) -> None:
    rng = np.random.default_rng(0)
    blob = rng.integers(0, 255, size + n, dtype=np.uint8).tobytes()
    for i in range(n):
        folder = root / f"class{i // per_folder:03d}"
        if i % per_folder == 0:
            folder.mkdir(parents=True)
        (folder / f"img{i:06d}.png").write_bytes(blob[i:i + size])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--files", type=int, default=200_000)
    p.add_argument("--small", type=int, default=4096, help="bytes per file in the 200k set")
    p.add_argument("--large-files", type=int, default=1000)
    p.add_argument("--large", type=int, default=500_000, help="bytes per file in the throughput set")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small"
        make(small, args.files, args.small)
        t = time.perf_counter()
        ds = open_dataset(small)
        listing = time.perf_counter() - t
        sig = np.array([(it.size, it.mtime_ns, it.ctime_ns) for it in ds.items], np.int64)
        t = time.perf_counter()
        (sig != sig.copy()).any(axis=1).nonzero()
        compare = time.perf_counter() - t
        print(f"listing {len(ds):,} files (size, mtime and ctime from one stat each): {listing:.2f} s; "
              f"comparing their signatures with a run's: {compare * 1000:.1f} ms")
        t = time.perf_counter()
        for i in range(len(ds)):
            ds.content_digest(i)
        verify = time.perf_counter() - t
        print(f"--verify on {len(ds):,} files of {args.small / 1024:.0f} KiB: {verify:.1f} s "
              f"({len(ds) / verify:,.0f} files/s)")
        large = Path(tmp) / "large"
        make(large, args.large_files, args.large)
        paths = sorted(large.rglob("*.png"))
        t = time.perf_counter()
        for path in paths:
            file_digest(str(path))
        seconds = time.perf_counter() - t
        mb = args.large_files * args.large / 1e6
        print(f"--verify throughput on {args.large_files:,} files of {args.large / 1e3:.0f} kB: "
              f"{mb / seconds:,.0f} MB/s (BLAKE2b {hashlib.blake2b().name}, warm cache)")
        per_file = verify / len(ds)
        est = 200_000 * (per_file + 0.1 / (mb / seconds))  # 100 kB photos
        print(f"estimate for 200k photos of 100 kB, warm cache: {est:.0f} s")


if __name__ == "__main__":
    main()
