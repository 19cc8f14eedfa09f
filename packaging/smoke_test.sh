#!/usr/bin/env bash
# Test the Linux artefacts that ship, as a user gets them, for one flavour (after packaging/build.sh):
#   bash packaging/smoke_test.sh [cpu|cuda] [DIST_DIR]
# 1. the .tar.gz unpacked in a fresh folder: --self-test in a clean environment (no virtual environment on
#    PATH, a fresh HOME, a folder outside this checkout), offscreen, then in a real X window (Xvfb) when
#    Xvfb is installed;
# 2. the .deb installed with apt-get (which resolves its Depends:), the self-test of the installed command,
#    the menu entry checked, then removed: nothing may be left in /opt. Needs root or sudo; SMOKE_DEB=0 skips.
# Prints the download and installed sizes and the cold start to a drawn window.
set -euo pipefail
cd "$(dirname "$0")/.."
FLAVOUR=${1:-cpu}
DIST=$(cd "${2:-dist}" && pwd)
VERSION=$(python3 -c "import re; print(re.search(r'__version__ = \"(.+)\"', open('explorer/__init__.py').read())[1])")
TARBALL=$DIST/cnn-feature-explorer-$VERSION-linux-x86_64-$FLAVOUR.tar.gz
DEB=$DIST/cnn-feature-explorer_$VERSION+${FLAVOUR}_amd64.deb
for f in "$TARBALL" "$DEB"; do [ -f "$f" ] || { echo "missing $f: run packaging/build.sh $FLAVOUR first" >&2; exit 1; }; done
WORK=$(mktemp -d)
XVFB_PID=
cleanup() {
  if [ -n "$XVFB_PID" ]; then kill "$XVFB_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# self_test NAME COMMAND [VAR=VALUE...]: the bundle's --self-test in a clean environment, its report checked
self_test() {
  local name=$1 app=$2
  shift 2
  mkdir -p "$WORK/$name/home"
  if ! (cd "$WORK/$name" && env -i HOME="$WORK/$name/home" PATH=/usr/bin:/bin TMPDIR="$WORK/$name" "$@" \
    "$app" --self-test --report "$WORK/$name/report.json" --screenshot "$WORK/$name/window.png") \
    >"$WORK/$name/out.txt" 2>&1; then
    cat "$WORK/$name/out.txt"
    echo "SELF-TEST FAILED: $name" >&2
    exit 1
  fi
  python3 - "$WORK/$name" "$name" <<'PY'
import json, os, sys
folder, name = sys.argv[1:]
report = json.load(open(os.path.join(folder, "report.json")))
assert report["ok"] and report["frozen"], report.get("reason")
assert os.path.getsize(os.path.join(folder, "window.png")) > 10_000, "the window screenshot is empty"
left = [p for p in os.listdir(folder) if p.startswith("explorer-selftest-")]
assert not left, f"the self-test left {left} behind"
t = report["timings"]
start = t.get("window_shown_since_process_start_s", t["window_shown_s"])
print(f"{name}: self-test ok ({len(report['checks'])} checks) on {report['device']}; window drawn "
      f"{start:.2f} s after the process started, map at {t['map_drawn_s']:.1f} s")
PY
}

echo "== $(basename "$TARBALL")"
mkdir -p "$WORK/unpacked"
tar -C "$WORK/unpacked" -xzf "$TARBALL"
APP=$WORK/unpacked/cnn-feature-explorer/cnn-feature-explorer
self_test tar-offscreen "$APP" QT_QPA_PLATFORM=offscreen
if command -v Xvfb >/dev/null; then
  DISPLAY_NUMBER=${SMOKE_DISPLAY:-97}
  Xvfb ":$DISPLAY_NUMBER" -screen 0 1366x768x24 -nolisten tcp >/dev/null 2>&1 &
  XVFB_PID=$!
  sleep 2
  self_test tar-x11 "$APP" DISPLAY=":$DISPLAY_NUMBER" QT_QPA_PLATFORM=xcb
else
  echo "Xvfb is not installed: the real X window was not tested (apt-get install xvfb)"
fi
# the terminal commands and the menu entry's `cnn-feature-explorer %f` (a folder dropped on the launcher,
# here with --screenshot so that the window closes once the map is drawn), in the bundle
env -i HOME="$WORK/home" PATH=/usr/bin:/bin "$APP" --version
env -i HOME="$WORK/home" PATH=/usr/bin:/bin "$APP" models >/dev/null
cp -r "$WORK/unpacked/cnn-feature-explorer/_internal/resources/selftest" "$WORK/my photos"
(cd "$WORK" && env -i HOME="$WORK/home" PATH=/usr/bin:/bin TMPDIR="$WORK" QT_QPA_PLATFORM=offscreen \
  "$APP" "$WORK/my photos" --screenshot "$WORK/folder.png") >"$WORK/folder.txt" 2>&1 \
  || { cat "$WORK/folder.txt"; echo "opening a folder given to the command failed" >&2; exit 1; }
[ "$(stat -c %s "$WORK/folder.png")" -gt 10000 ] || { echo "opening a folder drew no window" >&2; exit 1; }
echo "a folder given to the command opens in the window"
echo "download: $(du -h "$TARBALL" | cut -f1)  unpacked: $(du -sh "$WORK/unpacked" | cut -f1)"
rm -rf "$WORK/unpacked"

echo "== $(basename "$DEB")"
echo "Depends: $(dpkg-deb -f "$DEB" Depends)"
echo "download: $(du -h "$DEB" | cut -f1)  installed: $(($(dpkg-deb -f "$DEB" Installed-Size) / 1024)) MiB"
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
if [ "${SMOKE_DEB:-1}" = 1 ] && { [ -z "$SUDO" ] || sudo -n true 2>/dev/null; }; then
  $SUDO apt-get install -y -q "$DEB" >"$WORK/apt.txt" 2>&1 || { cat "$WORK/apt.txt"; echo "the .deb did not install" >&2; exit 1; }
  self_test deb-offscreen /usr/bin/cnn-feature-explorer QT_QPA_PLATFORM=offscreen
  if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate /usr/share/applications/cnn-feature-explorer.desktop
  fi
  grep -q '^Exec=cnn-feature-explorer %f$' /usr/share/applications/cnn-feature-explorer.desktop
  $SUDO apt-get remove -y -q cnn-feature-explorer >/dev/null
  if [ -e /opt/cnn-feature-explorer ] || [ -e /usr/bin/cnn-feature-explorer ]; then
    echo "the .deb left files behind after removal" >&2
    exit 1
  fi
  echo "deb: installed, self-tested and removed cleanly"
else
  echo "deb: not installed (SMOKE_DEB=0, or no root/sudo)"
fi
echo "smoke test passed: $FLAVOUR"
