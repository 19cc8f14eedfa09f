#!/usr/bin/env bash
# notarize.sh DMG: send the signed .dmg to Apple's notary service, wait, and staple the ticket to it.
# Skipped, with a note, unless the image is signed and APPLE_ID, APPLE_TEAM_ID and APPLE_APP_PASSWORD are set.
set -euo pipefail
DMG=$1
if [ -z "${MACOS_SIGN_IDENTITY:-}" ] || [ -z "${APPLE_ID:-}" ] || [ -z "${APPLE_TEAM_ID:-}" ] \
  || [ -z "${APPLE_APP_PASSWORD:-}" ]; then
  echo "not notarised: MACOS_SIGN_IDENTITY, APPLE_ID, APPLE_TEAM_ID or APPLE_APP_PASSWORD is not set"
  exit 0
fi
xcrun notarytool submit "$DMG" --apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" \
  --password "$APPLE_APP_PASSWORD" --wait --timeout 60m
xcrun stapler staple "$DMG"
xcrun stapler validate "$DMG"
