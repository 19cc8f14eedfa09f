#!/usr/bin/env bash
# smoke_test.sh DMG: the .dmg as a user gets it: mounted, it holds the app and a link to /Applications;
# the app dragged (copied) out of it passes --self-test in a clean environment; a notarised one passes
# Gatekeeper's assessment.
set -euo pipefail
DMG=$1
WORK=$(mktemp -d)
MOUNT=$WORK/mount
cleanup() {
  hdiutil detach "$MOUNT" -quiet 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
hdiutil attach "$DMG" -nobrowse -readonly -mountpoint "$MOUNT" -quiet
[ "$(readlink "$MOUNT/Applications")" = /Applications ] || { echo "no link to /Applications in $DMG" >&2; exit 1; }
[ -f "$MOUNT/CNN Feature Explorer.app/Contents/Resources/explorer.icns" ] \
  || ls "$MOUNT/CNN Feature Explorer.app/Contents/Resources/"*.icns >/dev/null
mkdir -p "$WORK/Applications" "$WORK/home"
ditto "$MOUNT/CNN Feature Explorer.app" "$WORK/Applications/CNN Feature Explorer.app"
if [ -n "${MACOS_SIGN_IDENTITY:-}" ] && [ -n "${APPLE_ID:-}" ]; then  # Gatekeeper accepts notarised apps only
  spctl --assess --type execute --verbose "$WORK/Applications/CNN Feature Explorer.app"
fi
(cd "$WORK" && env -i HOME="$WORK/home" PATH=/usr/bin:/bin TMPDIR="$WORK" QT_QPA_PLATFORM=offscreen \
  "$WORK/Applications/CNN Feature Explorer.app/Contents/MacOS/cnn-feature-explorer" --self-test \
  --report "$WORK/report.json" --screenshot "$WORK/window.png")
python3 -c "import json, sys; r = json.load(open(sys.argv[1])); assert r['ok'] and r['frozen'], r.get('reason'); print('self-test ok on', r['device'])" "$WORK/report.json"
echo "smoke test passed: $DMG ($(du -h "$DMG" | cut -f1))"
