#!/usr/bin/env bash
# release_assets.sh DIR: make DIR's files ready to attach to a GitHub Release.
# A release asset must be under 2 GiB: a larger file is split into FILE.part00, FILE.part01, ... (joined
# again with `cat FILE.part* > FILE`). SHA256SUMS.txt lists every asset and every whole file, so a
# download can be checked with `sha256sum --check --ignore-missing SHA256SUMS.txt`.
set -euo pipefail
DIR=$1
LIMIT=${ASSET_LIMIT_BYTES:-2000000000}
cd "$DIR"
: >SHA256SUMS.txt.new
for f in *; do
  case $f in SHA256SUMS.txt*) continue ;; esac
  [ -f "$f" ] || continue
  sha256sum "$f" >>SHA256SUMS.txt.new
  if [ "$(stat -c %s "$f")" -gt "$LIMIT" ]; then
    split -b "$LIMIT" -d -a 2 "$f" "$f.part"
    rm "$f"
    sha256sum "$f".part* >>SHA256SUMS.txt.new
    echo "split $f into $(find . -maxdepth 1 -name "$f.part*" | wc -l) parts"
  fi
done
sort -k2 SHA256SUMS.txt.new >SHA256SUMS.txt
rm SHA256SUMS.txt.new
sha256sum --check --ignore-missing --quiet SHA256SUMS.txt
ls -l
