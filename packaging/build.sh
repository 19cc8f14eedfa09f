#!/usr/bin/env bash
# Build the self-contained app folder with PyInstaller, then (on Linux) a .tar.gz and a .deb.
#   bash packaging/build.sh            -> dist/cnn-feature-explorer/, dist/*.tar.gz, dist/*.deb
# Run from a checkout; it sets up .venv with the project and PyInstaller if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m explorer.bootstrap --version >/dev/null          # .venv with the app's dependencies
PY=.venv/bin/python
[ -x "$PY" ] || PY=.venv/Scripts/python.exe
"$PY" -m pip install --quiet "pyinstaller>=6"
"$PY" -m PyInstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/explorer.spec
VERSION=$("$PY" -c "import explorer; print(explorer.__version__)")
if [ "$(uname -s)" = "Linux" ]; then
  tar -C dist -czf "dist/cnn-feature-explorer-$VERSION-linux-x86_64.tar.gz" cnn-feature-explorer
  bash packaging/linux/make_deb.sh dist/cnn-feature-explorer "$VERSION" dist
fi
du -sh dist/* | sed 's/^/built: /'
