#!/usr/bin/env bash
# One photo, one painting, several settings: a sweep over --style-scale (the size of the strokes)
# and over --alpha (how much of the photo is kept), one output per value, named by it:
# out-dir/photo-painting_style-scale-2.png, out-dir/photo-painting_alpha-1e2.png, ...
#   examples/style-sweep.sh photo.jpg painting.jpg [out-dir]
# SCALES ("0.5 1 2") and ALPHAS ("1e2 1e4") are the values; SIZE (256) and ITERATIONS (300) as usual.
# The jobs go into a manifest, out-dir/sweep.csv, run by one `nst batch` (the model is loaded once);
# running it again overwrites the outputs.
set -euo pipefail
usage="usage: $0 photo painting [out-dir]"
photo=${1:?$usage}
painting=${2:?$usage}
out=${3:-sweep}
nst=${NST:-$(dirname "$0")/../bin/nst}
# The manifest's paths are relative to the manifest: write them absolute, quoted for CSV.
csv_path() { local p; p=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); printf '"%s"' "${p//\"/\"\"}"; }
name=$(basename "${photo%.*}")-$(basename "${painting%.*}")
mkdir -p "$out"
{
  echo 'content,style,output,style-scale,alpha'
  for scale in ${SCALES:-0.5 1 2}; do
    echo "$(csv_path "$photo"),$(csv_path "$painting"),${name}_style-scale-$scale.png,$scale,"
  done
  for alpha in ${ALPHAS:-1e2 1e4}; do
    echo "$(csv_path "$photo"),$(csv_path "$painting"),${name}_alpha-$alpha.png,,$alpha"
  done
} >"$out/sweep.csv"
"$nst" batch --manifest "$out/sweep.csv" --out-dir "$out" --size "${SIZE:-256}" --iterations "${ITERATIONS:-300}" --force
