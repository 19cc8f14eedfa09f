#!/usr/bin/env bash
# macOS: build the app, self-test it, sign it, wrap it in a .dmg with a link to Applications, notarise it.
#   bash packaging/macos/build.sh      -> dist/cnn-feature-explorer.app, dist/cnn-feature-explorer-VERSION-macos-ARCH.dmg
# ARCH is this Mac's (arm64: Apple Silicon, x86_64: Intel); the release workflow builds on both kinds.
# Signing and notarisation run only when their variables are set (the workflow sets them from secrets):
#   MACOS_SIGN_IDENTITY                          "Developer ID Application: NAME (TEAMID)", in the keychain
#   APPLE_ID, APPLE_TEAM_ID, APPLE_APP_PASSWORD  an app-specific password for notarytool
# Without them the .dmg is unsigned: the first launch needs right-click > Open.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=build/venv-macos
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
PY=$VENV/bin/python
if [ "$(uname -m)" = x86_64 ]; then  # PyTorch 2.2 has the last wheels for Intel Macs, built against NumPy 1
  "$PY" -m pip install --quiet --disable-pip-version-check "torch==2.2.2" "torchvision==0.17.2" "numpy<2"
fi
"$PY" -m pip install --quiet --disable-pip-version-check ".[packaging]"
"$PY" packaging/make_icons.py build/icons
VERSION=$("$PY" -c "import explorer; print(explorer.__version__)")
ARCH=$(uname -m)
EXPLORER_VERSION=$VERSION "$PY" -m PyInstaller --noconfirm --clean --log-level WARN --distpath dist \
  --workpath build/pyinstaller packaging/explorer.spec
rm -rf build/pyinstaller dist/cnn-feature-explorer  # the .app holds everything
APP=dist/cnn-feature-explorer.app
bash packaging/macos/sign.sh "$APP"
DMG=dist/cnn-feature-explorer-$VERSION-macos-$ARCH.dmg
bash packaging/macos/make_dmg.sh "$APP" "$DMG"
bash packaging/macos/notarize.sh "$DMG"
bash packaging/macos/smoke_test.sh "$DMG"
