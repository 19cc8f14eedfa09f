#!/usr/bin/env bash
# shellcheck disable=SC2317  # the functions run through check
# The Windows installer under Wine (64-bit), as far as Wine goes: silent install, the files, the
# Start-menu entry and the uninstaller's registration, the installed programs, the self-test, then a
# silent uninstall that leaves nothing behind. Each step prints PASS or FAIL; the exit code counts FAILs.
#   packaging/windows/wine_test.sh dist/cnn-feature-explorer-VERSION-windows-x64-setup.exe [WINEPREFIX]
# Needs wine64 (Debian: apt-get install wine wine64). The real test is smoke_test.ps1 on Windows.
set -uo pipefail
setup=$(realpath "$1")
export WINEPREFIX=${2:-$(mktemp -d)/wine} WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
# Intel OpenMP (torch) asks Windows for NUMA masks, which Wine does not implement
export KMP_AFFINITY=disabled
fails=0
check() {  # check NAME COMMAND...: run it, print PASS/FAIL
  local name=$1; shift
  if "$@"; then echo "PASS $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
w() { timeout 900 wine "$@" < /dev/null; }  # Wine needs a stdin to give Python its standard streams
cli() { w "$target/cnn-feature-explorer-cli.exe" "$@" 2>&1; }
version_ok() { cli --version | grep -q '^cnn-feature-explorer-cli 0'; }
help_ok() { cli --help | grep -q 'cnn-feature-explorer-cli'; }
imports() {  # imports MODULE: in the installed Python; prints how it failed
  local out
  out=$(w "$target/Python/python.exe" -c "import $1" 2>&1) && return 0
  echo "$out" | grep -v '^ *0x\|^PE\|^ELF\|^\s' | head -4
  return 1
}
self_test() {
  local out
  out=$(QT_QPA_PLATFORM=offscreen cli --self-test --report 'C:\self-test.json') && return 0
  echo "$out" | tail -5
  return 1
}

mkdir -p "$(dirname "$WINEPREFIX")"
timeout 300 wine wineboot -i > /dev/null 2>&1
# the default folder: Wine quotes an argument with spaces, and NSIS takes /D= only unquoted
target=$WINEPREFIX/drive_c/Program\ Files/CNN\ Feature\ Explorer
start=$(date +%s)
check "silent install" w "$setup" /S
echo "  installed in $(( $(date +%s) - start )) s: $(du -sm "$target" | cut -f1) MiB"
for f in cnn-feature-explorer.exe cnn-feature-explorer-cli.exe uninstall.exe explorer.ico Python/python.exe \
         Python/python311._pth pkgs/explorer/__init__.py pkgs/torch/lib/torch_cpu.dll; do
  check "installed: $f" test -f "$target/$f"
done
check "Start-menu entry" test -f "$WINEPREFIX/drive_c/ProgramData/Microsoft/Windows/Start Menu/Programs/CNN Feature Explorer.lnk"
key='HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\cnn-feature-explorer'
registered() { wine reg query "$key" /v UninstallString < /dev/null 2>/dev/null | grep -q uninstall.exe; }
check "registered with Settings > Apps" registered
check "the command-line program starts" version_ok
check "its help names the Windows command" help_ok
check "Python imports NumPy" imports numpy
check "Python imports torch" imports torch
check "self-test" self_test
check "silent uninstall" w "$target/uninstall.exe" /S
gone() { [ ! -e "$target" ] || [ -z "$(ls -A "$target")" ]; }
for _ in $(seq 120); do gone && break; sleep 1; done  # the uninstaller runs on from a copy in TEMP
check "nothing left behind" gone
check "Start-menu entry removed" test ! -e "$WINEPREFIX/drive_c/ProgramData/Microsoft/Windows/Start Menu/Programs/CNN Feature Explorer.lnk"
echo "$fails failed"
exit "$fails"
