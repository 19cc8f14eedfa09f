#!/usr/bin/env bash
# keychain.sh: put the Developer ID certificate (a base64 .p12 in MACOS_CERTIFICATE, its password in
# MACOS_CERTIFICATE_PASSWORD) in a temporary keychain that codesign can use without a prompt.
# Skipped, with a note, when MACOS_CERTIFICATE is not set. For CI runners, which are thrown away.
set -euo pipefail
if [ -z "${MACOS_CERTIFICATE:-}" ]; then
  echo "no certificate: MACOS_CERTIFICATE is not set, the app will not be signed"
  exit 0
fi
KEYCHAIN=build.keychain
PASSWORD=$(uuidgen)
CERT=$(mktemp)
trap 'rm -f "$CERT"' EXIT
printf '%s' "$MACOS_CERTIFICATE" | base64 --decode >"$CERT"
security create-keychain -p "$PASSWORD" "$KEYCHAIN"
security set-keychain-settings -lut 21600 "$KEYCHAIN"
security unlock-keychain -p "$PASSWORD" "$KEYCHAIN"
security import "$CERT" -k "$KEYCHAIN" -P "${MACOS_CERTIFICATE_PASSWORD:-}" -T /usr/bin/codesign
security set-key-partition-list -S apple-tool:,apple:,codesign: -s -k "$PASSWORD" "$KEYCHAIN" >/dev/null
security list-keychains -d user -s "$KEYCHAIN" login.keychain
security find-identity -v -p codesigning "$KEYCHAIN"
