#!/usr/bin/env bash
# The Windows installer, built without Windows (Linux here; the release workflow's Ubuntu runner):
#   packaging/windows/build_on_linux.sh      -> dist/cnn-feature-explorer-VERSION-windows-x64-setup.exe
# Python's embeddable Windows build (fetch_python.py), PyPI's Windows wheels (resolved for Windows by uv:
# pip evaluates environment markers for the machine it runs on), the app folder (assemble.py), a check
# that every DLL is present (check_dlls.py), and NSIS (apt-get install nsis) with its 64-bit stub.
# Needs Python 3.11 (the .pyc it compiles are for the bundle's 3.11), NSIS, and osslsigncode to check
# Python's signatures. PyTorch's Windows wheels on PyPI are CPU-only: the installer runs on the CPU.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
work=build/windows
mkdir -p "$work" dist
rm -rf "$work/wheels" "$work/app"

if [ ! -x "$work/venv/bin/uv" ]; then  # the build's own tools: uv, and Qt + Pillow for the icon
  "$python" -m venv "$work/venv"
  "$work/venv/bin/pip" install --quiet --disable-pip-version-check uv PySide6-Essentials pillow
fi
"$python" -m pip wheel --quiet --no-deps -w "$work/wheels" .
version=$("$python" -c "import re; print(re.search(r'__version__ = \"(.+)\"', open('explorer/__init__.py').read())[1])")
wheel=$(ls "$work"/wheels/cnn_feature_explorer-*.whl)

constraints=()
[ -f /etc/xdg/pip/constraints.txt ] && constraints=(-c /etc/xdg/pip/constraints.txt)  # a machine's own cap
echo "cnn-feature-explorer @ file://$PWD/$wheel" > "$work/wanted.txt"
echo "msvc-runtime" >> "$work/wanted.txt"  # torch needs msvcp140_atomic_wait.dll and vcruntime140_threads.dll
"$work/venv/bin/uv" pip compile --quiet --python-platform x86_64-pc-windows-msvc --python-version 3.11 \
  --only-binary :all: --no-header --no-annotate "${constraints[@]}" -o "$work/requirements.txt" "$work/wanted.txt"
grep -v '^cnn-feature-explorer @' "$work/requirements.txt" > "$work/requirements-windows.txt"
"$python" -m pip download --quiet --no-deps --platform win_amd64 --python-version 3.11 --implementation cp \
  --abi cp311 --only-binary=:all: -d "$work/wheels" -r "$work/requirements-windows.txt"

[ -f "$work/python-3.11.9-embed-amd64.zip" ] || "$python" packaging/windows/fetch_python.py "$work/python-3.11.9-embed-amd64.zip"
QT_QPA_PLATFORM=offscreen "$work/venv/bin/python" packaging/make_icons.py "$work/icons" >/dev/null
"$python" packaging/windows/assemble.py --python "$work/python-3.11.9-embed-amd64.zip" --wheels "$work/wheels" \
  --out "$work/app" --version "$version"
"$python" packaging/windows/check_dlls.py "$work/app"

setup="dist/cnn-feature-explorer-$version-windows-x64-setup.exe"
makensis -V2 -DTARGET=amd64-unicode "-DVERSION=$version" "-DAPP_DIR=$PWD/$work/app" \
  "-DICON=$PWD/$work/icons/explorer.ico" "-DOUT=$PWD/$setup" packaging/windows/installer.nsi
echo "built: $setup ($(( $(stat -c %s "$setup") / 1048576 )) MiB; installed $(du -sm "$work/app" | cut -f1) MiB)"
