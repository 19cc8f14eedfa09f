"""Maximally activating patches over a 100k-image run (target: on screen within a second).

The run is synthetic in its numbers (random maxima) but real in its format: memory-mapped
float16 arrays on disk, and patch boxes mapped onto real image files.
"""

import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from explorer.core.analysis.patches import channel_stats, crop_patch, top_patches
from explorer.core.run.arrays import plan
from explorer.core.run.folder import create_run
from explorer.core.run.store import Row, load_run


def main(n=100_000, channels=512, k=12):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        root.mkdir()
        for i in range(10):
            Image.effect_noise((640, 480), 40).convert("RGB").save(root / f"img{i}.jpg")
        rows = [Row(i, f"img{i % 10}.jpg", None) for i in range(n)]
        layer = {"name": "layer3", "shape": [channels, 14, 14],
                 "field": {"jump": [16, 16], "size": [99, 99], "start": [7.5, 7.5]}}
        manifest = {"dataset": {"root": str(root), "classes": []}, "model": "bench", "weights": "random:0",
                    "layers": [layer], "arrays": plan([layer]), "input_size": 224,
                    "preprocess": {"resize": 256, "crop": 224, "mean": [0.485, 0.456, 0.406],
                                   "std": [0.229, 0.224, 0.225], "interpolation": "bilinear"},
                    "key": "bench"}
        run = create_run(Path(tmp) / "run", manifest, rows)
        rng = np.random.default_rng(0)
        for start in range(0, n, 20_000):
            idx = np.arange(start, min(n, start + 20_000))
            run.write_rows(idx, {"features": rng.normal(size=(len(idx), channels)),
                                 "channel_max": rng.gamma(2, size=(len(idx), channels)),
                                 "channel_argmax": rng.integers(0, 196, (len(idx), channels))})
        run.save(complete=True)
        run = load_run(run.path)  # cold: as the app opens it
        times = []
        for c in (0, 100, 300, 511):
            t = time.perf_counter()
            patches = top_patches(run, c, k)
            crops = [crop_patch(run, p) for p in patches]
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        channel_stats(run)
        stats = time.perf_counter() - t
    print(f"{n:,} images x {channels} channels: top {k} patches of a channel incl. {len(crops)} crops: "
          f"median {np.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms (target < 1000 ms); "
          f"channel table statistics {stats * 1000:.0f} ms")


if __name__ == "__main__":
    main()
