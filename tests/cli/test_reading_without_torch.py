"""Commands that only read a finished run never import torch (it costs seconds and, with CUDA, 700 MB)."""

import subprocess
import sys

from explorer.cli.main import main

PROBE = """
import sys
from explorer.cli.main import main
code = main(sys.argv[1:])
print("TORCH" if "torch" in sys.modules else "NO-TORCH", code)
"""


def test_neighbours_patches_export_and_predict_read_a_run_without_torch(capsys, photo_folder, tmp_path):
    run = tmp_path / "run"
    assert main(["embed", str(photo_folder), "--out", str(run), "--model", "resnet18", "--weights", "random",
                 "--image-size", "64"]) == 0
    capsys.readouterr()
    for args in (["neighbours", str(run), "0", "-k", "3"], ["patches", str(run), "--channel", "5", "--out",
                 str(tmp_path / "patches")], ["export", str(run), "--csv", str(tmp_path / "rows.csv")],
                 ["predict", str(run), "--top", "2"]):
        proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
        assert proc.stdout.strip().splitlines()[-1] == "NO-TORCH 0", (args[0], proc.stdout[-500:], proc.stderr[-500:])
