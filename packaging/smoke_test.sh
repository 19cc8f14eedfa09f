#!/usr/bin/env bash
# Build the bundle (unless --no-build) and run its --self-test in a clean environment:
# no virtual environment on PATH, a fresh HOME, nothing from this checkout importable.
# Prints the bundle size, the installed size of the .deb and the cold start to a drawn window.
#   bash packaging/smoke_test.sh [--no-build] [DIST_DIR]
# Too slow for the default CI (PyTorch alone is gigabytes); run it before a release.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=1
[ "${1:-}" = "--no-build" ] && { BUILD=0; shift; }
DIST=${1:-dist}
[ "$BUILD" = 1 ] && bash packaging/build.sh
APP="$(cd "$DIST" && pwd)/cnn-feature-explorer/cnn-feature-explorer"
[ -x "$APP" ] || { echo "no bundle at $APP"; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
START=$(date +%s.%N)
( cd "$WORK" && env -i HOME="$WORK/home" PATH=/usr/bin:/bin QT_QPA_PLATFORM=offscreen \
    "$APP" --self-test --report "$WORK/report.json" --screenshot "$WORK/window.png" ) > "$WORK/out.txt" 2>&1 \
  || { cat "$WORK/out.txt"; echo "SELF-TEST FAILED"; exit 1; }
END=$(date +%s.%N)
python3 - "$WORK/report.json" "$WORK/window.png" <<'PY'
import json, sys, os
report = json.load(open(sys.argv[1]))
assert report["ok"] and report["frozen"], report.get("reason")
assert os.path.getsize(sys.argv[2]) > 10_000, "the window screenshot is empty"
t = report["timings"]
print(f"self-test ok ({len(report['checks'])} checks) on {report['device']}")
start = t.get("window_shown_since_process_start_s", t["window_shown_s"])
print(f"cold start to a drawn window: {start:.2f} s after the process started (torch not yet imported: "
      f"{report['checks']['window_before_torch']}); map drawn at {t['map_drawn_s']:.1f} s")
PY
echo "self-test wall time: $(python3 -c "print(f'{$END - $START:.1f}')") s"
echo "bundle size: $(du -sh "$DIST/cnn-feature-explorer" | cut -f1) (app folder)"
for f in "$DIST"/*.tar.gz "$DIST"/*.deb; do [ -e "$f" ] && echo "$(basename "$f"): $(du -h "$f" | cut -f1)"; done
for f in "$DIST"/*.deb; do [ -e "$f" ] && echo "installed size: $(dpkg-deb -f "$f" Installed-Size) KiB"; done
exit 0
