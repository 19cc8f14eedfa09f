"""The demo: embed scikit-learn's 1,797 digits with the default model, cold cache (target < 60 s)."""

import os
import subprocess
import sys
import tempfile
import time


def main():
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, EXPLORER_CACHE_DIR=cache)
        cmd = [sys.executable, "-m", "explorer", "embed", "demo:digits"]
        t = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        cold = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        warm = time.perf_counter() - t
    print(out.strip())
    print(f"demo embed, cold cache: {cold:.1f} s wall (process start, model load, 1,797 images); target < 60 s")
    print(f"demo embed, cached    : {warm:.1f} s wall (reused run)")


if __name__ == "__main__":
    main()
