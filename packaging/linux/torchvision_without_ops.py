"""Make a CUDA build of torchvision importable next to PyTorch's CPU build, without its C++ operators.

Only for building the CPU flavour where torchvision's own CPU build cannot be had (PyTorch's CPU index
has one; PyPI's torchvision wheels for Linux link CUDA). Its operators (nms, roi_align, GPU JPEG
decoding) then cannot load, which the app does not use; but torchvision registers fakes of nms and qnms
without checking for them and fails at import: guard those registrations, as the others already are.
    python packaging/linux/torchvision_without_ops.py    (with the build environment's python)
"""

import importlib.util
import re
import sys
from pathlib import Path

UNGUARDED = re.compile(r'^@torch\.library\.register_fake\(("torchvision::\w+")\)$', re.MULTILINE)
GUARDED = (r'@(torch.library.register_fake(\1) if torchvision.extension._has_ops() else (lambda fn: fn))'
           '  # patched by packaging/linux/torchvision_without_ops.py')


def main() -> int:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        print("torchvision is not installed", file=sys.stderr)
        return 1
    path = Path(spec.origin).parent / "_meta_registrations.py"
    text = path.read_text()
    patched, n = UNGUARDED.subn(GUARDED, text)
    if n == 0 and "patched by packaging" not in text:
        print(f"{path}: no unguarded registration found; cannot patch this torchvision", file=sys.stderr)
        return 1
    path.write_text(patched)
    print(f"patched {path}: torchvision imports without its C++ operators")
    return 0


if __name__ == "__main__":
    sys.exit(main())
