#!/usr/bin/env bash
# macOS: build CNN Feature Explorer.app with the shared spec, self-test it, and wrap it in a .dmg.
#   bash packaging/macos/build.sh
# Unsigned: first launch needs right-click > Open (or codesign/notarize with your team's identity).
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m explorer.bootstrap --version >/dev/null
.venv/bin/python -m pip install --quiet "pyinstaller>=6"
.venv/bin/python -m PyInstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/explorer.spec
QT_QPA_PLATFORM=offscreen dist/cnn-feature-explorer/cnn-feature-explorer --self-test \
  --report dist/self-test.json --screenshot dist/self-test.png
hdiutil create -volname "CNN Feature Explorer" -srcfolder dist/cnn-feature-explorer.app -ov -format UDZO \
  dist/cnn-feature-explorer-macos.dmg
