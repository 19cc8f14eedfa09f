#!/usr/bin/env bash
# make_deb.sh APP_FOLDER VERSION OUT_DIR: a .deb with the app in /opt, a menu entry and an icon.
set -euo pipefail
APP=$1 VERSION=$2 OUT=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
         "$STAGE/usr/share/icons/hicolor/scalable/apps"
cp -a "$APP" "$STAGE/opt/cnn-feature-explorer"
ln -s /opt/cnn-feature-explorer/cnn-feature-explorer "$STAGE/usr/bin/cnn-feature-explorer"
cp "$ROOT/resources/cnn-feature-explorer.desktop" "$STAGE/usr/share/applications/"
cp "$ROOT/resources/icons/explorer.svg" "$STAGE/usr/share/icons/hicolor/scalable/apps/cnn-feature-explorer.svg"
SIZE=$(du -sk "$STAGE/opt" | cut -f1)
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: cnn-feature-explorer
Version: $VERSION
Section: science
Priority: optional
Architecture: amd64
Installed-Size: $SIZE
Depends: libc6, libgl1, libegl1, libxkbcommon0, libfontconfig1, libdbus-1-3
Maintainer: CNN Feature Explorer team <noreply@invalid>
Description: See what a convolutional network has learned about your images
 Embeds a folder of images with any layer of a CNN (bundled EfficientNet-Lite0, torchvision
 and timm models), maps the features with PCA or t-SNE and links every point to its nearest
 neighbours, maximally activating patches and first-layer kernels. Works offline; uses an
 NVIDIA GPU when one is present.
CONTROL
dpkg-deb --root-owner-group -Zgzip --build "$STAGE" "$OUT/cnn-feature-explorer_${VERSION}_amd64.deb" >/dev/null
echo "$OUT/cnn-feature-explorer_${VERSION}_amd64.deb"
