#!/usr/bin/env bash
# sign.sh APP: sign the .app with the hardened runtime (required for notarisation). Skipped, with a
# note, when MACOS_SIGN_IDENTITY is not set.
set -euo pipefail
APP=$1
if [ -z "${MACOS_SIGN_IDENTITY:-}" ]; then
  echo "not signed: MACOS_SIGN_IDENTITY is not set"
  exit 0
fi
ENTITLEMENTS="$(dirname "$0")/entitlements.plist"
# inside out: every library and program first, then the bundle
find "$APP/Contents" -type f \( -name "*.so" -o -name "*.dylib" -o -perm -u+x \) -print0 |
  xargs -0 codesign --force --timestamp --options runtime --entitlements "$ENTITLEMENTS" \
    --sign "$MACOS_SIGN_IDENTITY"
codesign --force --timestamp --options runtime --entitlements "$ENTITLEMENTS" --sign "$MACOS_SIGN_IDENTITY" "$APP"
codesign --verify --deep --strict --verbose=2 "$APP"
