#!/usr/bin/env bash
# make_dmg.sh APP DMG: a compressed disk image with the app and a link to /Applications to drag it onto.
set -euo pipefail
APP=$1 DMG=$2
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
ditto "$APP" "$STAGE/CNN Feature Explorer.app"  # ditto keeps the signature, links and extended attributes
ln -s /Applications "$STAGE/Applications"
rm -f "$DMG"
hdiutil create -volname "CNN Feature Explorer" -srcfolder "$STAGE" -fs HFS+ -format UDZO -imagekey zlib-level=9 "$DMG"
if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
  codesign --force --timestamp --sign "$MACOS_SIGN_IDENTITY" "$DMG"
fi
echo "$DMG: $(du -h "$DMG" | cut -f1)"
