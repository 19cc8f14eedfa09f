#!/usr/bin/env bash
# make_deb.sh APP_FOLDER VERSION OUT_DIR: a .deb with the app in /opt, a command, a menu entry and an icon.
# Its Depends: are read from the bundle's binaries (deb_depends.py: the glibc they need, the libraries they
# link that the bundle does not carry, Qt's xcb plugin's). DEB_COMPRESSION=xz (default: smaller) or gzip.
set -euo pipefail
APP=$1 VERSION=$2 OUT=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEPENDS=$(python3 "$ROOT/packaging/linux/deb_depends.py" "$APP")
STAGE=$(mktemp -d "$OUT/.deb-stage.XXXXXX")  # beside the .deb: hard links, not a second copy of gigabytes
trap 'rm -rf "$STAGE"' EXIT
chmod 755 "$STAGE"
DOC=$STAGE/usr/share/doc/cnn-feature-explorer
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
  "$STAGE/usr/share/icons/hicolor/scalable/apps" "$DOC"
cp -al "$APP" "$STAGE/opt/cnn-feature-explorer" 2>/dev/null || cp -a "$APP" "$STAGE/opt/cnn-feature-explorer"
ln -s /opt/cnn-feature-explorer/cnn-feature-explorer "$STAGE/usr/bin/cnn-feature-explorer"
cp "$ROOT/resources/cnn-feature-explorer.desktop" "$STAGE/usr/share/applications/"
cp "$ROOT/resources/icons/explorer.svg" "$STAGE/usr/share/icons/hicolor/scalable/apps/cnn-feature-explorer.svg"
cp "$ROOT/packaging/linux/copyright" "$DOC/copyright"
SIZE=$(du -sk --apparent-size "$STAGE/opt" "$STAGE/usr" | awk '{s += $1} END {print s}')
cat >"$STAGE/DEBIAN/control" <<CONTROL
Package: cnn-feature-explorer
Version: $VERSION
Section: science
Priority: optional
Architecture: amd64
Installed-Size: $SIZE
Depends: $DEPENDS
Maintainer: CNN Feature Explorer team <noreply@invalid>
Description: See what a convolutional network has learned about your images
 Embeds a folder of images with any layer of a CNN (bundled EfficientNet-Lite0, torchvision
 and timm models), maps the features with PCA or t-SNE and links every point to its nearest
 neighbours, maximally activating patches and first-layer kernels. Works offline. The cuda
 build uses an NVIDIA GPU when one is present; the cpu build is smaller and runs anywhere.
CONTROL
DEB="$OUT/cnn-feature-explorer_${VERSION}_amd64.deb"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
