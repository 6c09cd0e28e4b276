#!/usr/bin/env bash
# Stylize every photo in a folder with every painting in another, in one `nst batch` run (the model
# is loaded once). Outputs are named photo-painting.png; re-running resumes: finished ones are skipped.
#   examples/batch-folder.sh [photos-dir] [paintings-dir] [out-dir]
# Without folders it uses the demo images (examples/make-images.mjs draws them when missing).
# SIZE (256) and ITERATIONS (300) set each output's longest side and its iterations.
set -euo pipefail
here=$(dirname "$0")
nst=${NST:-$here/../bin/nst}
images=${IMAGES:-$here/images}
photos=${1:-$images/photos}
paintings=${2:-$images/paintings}
out=${3:-batch-out}
if [ $# -lt 2 ] && [ ! -d "$images/paintings" ]; then
  node "$here/make-images.mjs" "$images"
fi
# Each job prints a line as it ends, then a summary: "batch: 4 done, 0 skipped, 0 failed".
"$nst" batch --content "$photos" --style "$paintings" --out-dir "$out" \
  --size "${SIZE:-256}" --iterations "${ITERATIONS:-300}" --skip-existing
