#!/usr/bin/env bash
# Follow a run through its JSON events (`nst stylize --json`, one object per line): a table of the
# iteration and the total cost as the run goes, then the output and the best cost from the "done"
# event, or the "error" event's message and exit code 1. Reads the events with jq, or with sed
# where jq is missing (or NO_JQ=1 is set).
#   examples/json-events.sh photo.jpg painting.jpg [out.png]
# STEP (25) is how often a progress event comes; SIZE (256) and ITERATIONS (300) as usual.
set -euo pipefail
usage="usage: $0 photo painting [out.png]"
photo=${1:?$usage}
painting=${2:?$usage}
out=${3:-events-out.png}
nst=${NST:-$(dirname "$0")/../bin/nst}

# get PATH: a value of the event in $line, by its jq path (.costs.total); the sed fallback looks
# for the path's last key ("total") and gives a string without its quotes, escapes left as they are.
if command -v jq >/dev/null && [ -z "${NO_JQ:-}" ]; then
  get() { jq -r "$1" <<<"$line"; }
else
  get() { sed -nE 's/.*"'"${1##*.}"'":("(([^"\\]|\\.)*)"|([^,}]*)).*/\2\4/p' <<<"$line"; }
fi

printf '%9s  %s\n' iteration 'total cost'
result='' problem=''
while IFS= read -r line; do
  case $(get .event) in
    progress) printf '%9s  %s\n' "$(get .iteration)" "$(get .costs.total)" ;;
    done) result="done: $(get .output), best cost $(get .bestCost)" ;;
    error) problem="error ($(get .code)): $(get .message)" ;;
  esac
done < <("$nst" stylize "$photo" "$painting" -o "$out" --json --step "${STEP:-25}" \
  --size "${SIZE:-256}" --iterations "${ITERATIONS:-300}")
if [ -n "$problem" ] || [ -z "$result" ]; then
  echo "$0: ${problem:-the run ended without a done event}" >&2
  exit 1
fi
echo "$result"
