#!/usr/bin/env bash
# Build one Linux flavour of the app: a PyInstaller app folder, a .tar.gz and a .deb.
#   bash packaging/build.sh [cpu|cuda]          (default: cpu)
# cpu:  PyTorch's CPU-only build (about 0.4 GB download). It is not on PyPI: by default it comes from
#       PyTorch's own CPU index; TORCH_CPU_PIP="..." gives other pip arguments (a wheel file, a mirror).
# cuda: PyTorch from PyPI with its CUDA libraries (uses an NVIDIA GPU; about 3 GB download).
# Produces dist/<flavour>/cnn-feature-explorer/ (the app folder),
#          dist/cnn-feature-explorer-VERSION-linux-x86_64-<flavour>.tar.gz,
#          dist/cnn-feature-explorer_VERSION+<flavour>_amd64.deb
# Each flavour builds in its own virtual environment ($BUILD_DIR/venv-<flavour>, BUILD_DIR=build by default),
# never the developer's .venv. KEEP_WORK=1 keeps PyInstaller's work folder (a few GB); by default it is removed.
# DEB_COMPRESSION=xz|gzip overrides the .deb's compression (xz for cpu, gzip for cuda); DEB=0 makes none.
set -euo pipefail
cd "$(dirname "$0")/.."
FLAVOUR=${1:-cpu}
case $FLAVOUR in cpu | cuda) ;; *) echo "usage: bash packaging/build.sh [cpu|cuda]" >&2; exit 2 ;; esac
BUILD_DIR=${BUILD_DIR:-build}
VENV=$BUILD_DIR/venv-$FLAVOUR
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
PY=$VENV/bin/python
pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "$@"; }
if [ "$FLAVOUR" = cpu ]; then
  read -r -a TORCH <<<"${TORCH_CPU_PIP:-torch torchvision --index-url https://download.pytorch.org/whl/cpu}"
  pip_install "${TORCH[@]}"
fi
pip_install ".[packaging]"
if [ "$FLAVOUR" = cpu ] && ! "$PY" -c "import torchvision" 2>/dev/null; then
  "$PY" packaging/linux/torchvision_without_ops.py  # PyPI's torchvision (built for CUDA) on the CPU build
fi
if [ "$FLAVOUR" = cpu ] && "$PY" -c "import torch, sys; sys.exit(0 if torch.version.cuda else 1)"; then
  echo "the cpu flavour got a CUDA build of PyTorch ($("$PY" -c 'import torch; print(torch.__version__)'))" >&2
  exit 1
fi
rm -rf "dist/$FLAVOUR"
EXPLORER_FLAVOUR=$FLAVOUR nice -n "${NICE:-10}" "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "dist/$FLAVOUR" --workpath "$BUILD_DIR/pyinstaller-$FLAVOUR" packaging/explorer.spec
[ "${KEEP_WORK:-0}" = 1 ] || rm -rf "${BUILD_DIR:?}/pyinstaller-$FLAVOUR"
VERSION=$("$PY" -c "import explorer; print(explorer.__version__)")
if [ "$(uname -s)" = Linux ]; then
  TARBALL="dist/cnn-feature-explorer-$VERSION-linux-x86_64-$FLAVOUR.tar.gz"
  tar -C "dist/$FLAVOUR" -cf - cnn-feature-explorer | gzip -6 >"$TARBALL"
  [ "${DEB:-1}" = 0 ] && exit 0  # DEB=0: the app folder and .tar.gz only (a quick measurement)
  # xz: the cpu .deb is 27% smaller than with gzip; the cuda one would take an hour to compress that way
  [ "$FLAVOUR" = cpu ] && COMPRESSION=xz || COMPRESSION=gzip
  DEB_COMPRESSION=${DEB_COMPRESSION:-$COMPRESSION} \
    bash packaging/linux/make_deb.sh "dist/$FLAVOUR/cnn-feature-explorer" "$VERSION+$FLAVOUR" dist
fi
du -sh "dist/$FLAVOUR/cnn-feature-explorer" dist/*"$FLAVOUR".tar.gz dist/*"$FLAVOUR"_amd64.deb 2>/dev/null | sed 's/^/built: /'
