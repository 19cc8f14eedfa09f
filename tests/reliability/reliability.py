"""Reliability trials (issue 17): kill -9 at random moments, and hostile file names. Prints the counts.

    .venv/bin/python tests/reliability/reliability.py                 # 12 kills, every hostile name
    .venv/bin/python tests/reliability/reliability.py --kills 50 --seed 3

Not part of the test suite (minutes of subprocesses). Each kill trial starts `explorer embed`, kills it
with SIGKILL after a random delay (every other trial: a random moment after the run folder appeared), runs the same command again and compares the features with an
uninterrupted run: they must be identical, with no row lost, duplicated or mislabelled. Each hostile
name trial puts one file with that name among ordinary ones, embeds, reopens the run and exports
it: the name must survive items.csv exactly, the CSV export must read back, and no command may fail.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
EMBED = ["--model", "resnet18", "--weights", "random", "--image-size", "64", "--batch-size", "4",
         "--layer", "layer3.1.add"]

HOSTILE = {  # what a name looks like -> the name (str; bytes for names that are not UTF-8)
    "carriage return": "a\rb.png", "newline": "a\nb.png", "tab": "a\tb.png", "every control": "".join(
        chr(c) for c in range(1, 32) if c not in (9, 10, 13)) + ".png",
    "comma and quotes": 'a, "b", \'c\'.png', "formula =": "=SUM(A1).png", "formula +": "+1.png",
    "formula -": "-1.png", "formula @": "@x.png", "leading space": " a.png", "trailing space": "a .png",
    "emoji": "🐱 cat.png", "right-to-left": "\u202ecod.png", "combining accents": "e\u0301te\u0301.png",
    "very long": "x" * 240 + ".png", "backslash": "a\\b.png", "percent": "100%.png", "dollar": "$HOME.png",
    "not UTF-8": b"bad\xff\xfe.png",
}


def explorer(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "explorer", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, errors="replace")


def make_images(folder: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(a).save(folder / ("a", "b")[i % 2] / f"img{i:04d}.png")


def kill_trials(count: int, rng: random.Random, work: Path) -> dict:
    from explorer.core.run.store import load_run

    data = work / "kill-data"
    make_images(data, 160, 0)
    straight = work / "straight"
    assert explorer("embed", str(data), "--out", str(straight), *EMBED).returncode == 0
    reference = load_run(straight)
    ref_rows = [(r.path, r.label) for r in reference.rows]
    counts = {"trials": 0, "identical": 0, "different": 0, "failed": 0, "killed before any row": 0}
    for t in range(count):
        out = work / f"kill-{t}"
        proc = subprocess.Popen([sys.executable, "-m", "explorer", "embed", str(data), "--out", str(out), *EMBED],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if t % 2:  # any moment, start-up included
            time.sleep(rng.uniform(0.3, 6.0))
        else:  # while rows are being written: once the run folder exists
            deadline = time.time() + 60
            while not (out / "state.npy").exists() and time.time() < deadline and proc.poll() is None:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        counts["trials"] += 1
        if not out.exists():
            counts["killed before any row"] += 1
        again = explorer("embed", str(data), "--out", str(out), *EMBED)
        if again.returncode != 0:
            counts["failed"] += 1
            print(f"  kill {t}: resume failed: {again.stderr.strip().splitlines()[-1:]}")
            continue
        run = load_run(out)
        same = [(r.path, r.label) for r in run.rows] == ref_rows and run.complete and \
            np.array_equal(np.asarray(run.features), np.asarray(reference.features))
        counts["identical" if same else "different"] += 1
    return counts


def name_trials(work: Path) -> dict:
    from explorer.core.run.store import load_run

    counts = {"names": 0, "ok": 0, "failed": 0}
    for what, name in HOSTILE.items():
        counts["names"] += 1
        data = work / f"names-{counts['names']}"
        make_images(data, 6, 1)
        raw = os.fsencode(str(data / "a")) + b"/" + (name if isinstance(name, bytes) else os.fsencode(name))
        try:
            Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(open(raw, "wb"), format="PNG")
        except OSError as exc:
            print(f"  {what}: the file system refuses the name ({exc.strerror}); not counted")
            counts["names"] -= 1
            continue
        out = work / f"names-run-{counts['names']}"
        problems = []
        result = explorer("embed", str(data), "--out", str(out), *EMBED)
        if result.returncode != 0:
            problems.append(f"embed: {result.stderr.strip().splitlines()[-1:]}")
        else:
            run = load_run(out)
            want = "a/" + (os.fsdecode(name) if isinstance(name, bytes) else name)
            paths = [r.path for r in run.rows]
            if want not in paths:
                problems.append("the name did not survive items.csv")
            elif run.status(paths.index(want))[0] != "ok":
                problems.append(f"not embedded: {run.status(paths.index(want))}")
            for command in (["project", str(out), "--method", "pca"],
                            ["export", str(out), "--csv", str(work / f"x{counts['names']}.csv"),
                             "--projector", str(work / f"tb{counts['names']}")],
                            ["neighbours", str(out), "0", "-k", "3"]):
                r = explorer(*command)
                if r.returncode != 0 or "Traceback" in r.stderr:
                    problems.append(f"{command[0]}: {r.stderr.strip().splitlines()[-1:]}")
            exported = work / f"x{counts['names']}.csv"
            if exported.exists():
                with open(exported, newline="", encoding="utf-8", errors="surrogateescape") as f:
                    rows = list(csv.reader(f))
                if len(rows) != 1 + len(run):
                    problems.append(f"the CSV export reads back as {len(rows) - 1} rows, not {len(run)}")
        counts["ok" if not problems else "failed"] += 1
        print(f"  {what:<18} {'ok' if not problems else '; '.join(problems)}")
    return counts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-names", action="store_true")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("EXPLORER_CACHE_DIR", tempfile.mkdtemp(prefix="reliability-cache-"))
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        names = None if args.skip_names else name_trials(work)
        kills = kill_trials(args.kills, random.Random(args.seed), work) if args.kills else None
        print(f"\nin {time.perf_counter() - t:.0f} s")
        if names:
            print(f"hostile names: {names['ok']} of {names['names']} ok, {names['failed']} failed")
        if kills:
            print(f"kill -9: {kills['trials']} trials, {kills['identical']} resumed identical, {kills['different']} "
                  f"different, {kills['failed']} failed to resume ({kills['killed before any row']} killed before "
                  "the run folder existed)")
        bad = (names or {}).get("failed", 0) + (kills or {}).get("different", 0) + (kills or {}).get("failed", 0)
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
