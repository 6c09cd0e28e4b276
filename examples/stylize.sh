#!/usr/bin/env bash
# Stylize one photo with one painting at a few sizes, to see how detail grows with --size.
#   examples/stylize.sh photo.jpg painting.jpg [out-dir]
set -euo pipefail
content=${1:?usage: $0 content-image style-image [out-dir]}
style=${2:?usage: $0 content-image style-image [out-dir]}
out=${3:-stylized}
nst=${NST:-$(dirname "$0")/../bin/nst}
mkdir -p "$out"
for size in 128 256; do
  "$nst" stylize "$content" "$style" -o "$out/$(basename "${content%.*}")-$size.png" --size "$size" --iterations 200
done
ls -l "$out"
