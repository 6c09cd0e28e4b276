#!/usr/bin/env bash
# Stylize one photo with one painting at a few sizes, to see how detail grows with --size.
#   examples/stylize.sh photo.jpg painting.jpg [out-dir]
# SIZES ("128 256") are the sizes, ITERATIONS (200) the iterations of each run.
set -euo pipefail
content=${1:?usage: $0 content-image style-image [out-dir]}
style=${2:?usage: $0 content-image style-image [out-dir]}
out=${3:-stylized}
nst=${NST:-$(dirname "$0")/../bin/nst}
mkdir -p "$out"
for size in ${SIZES:-128 256}; do
  "$nst" stylize "$content" "$style" -o "$out/$(basename "${content%.*}")-$size.png" --size "$size" --iterations "${ITERATIONS:-200}"
done
ls -l "$out"
