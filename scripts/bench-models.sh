#!/usr/bin/env bash
# Classify speed of several models in one run (docs/results.md): covergenre-classify runs each
# model over the same covers, ROUNDS times in turn (base, candidates, base, ...), and the best
# round of each is compared with the first model's. The issue's bar: the shipped model keeps at
# least 40% of the previous shipped model's speed.
#
# Usage: scripts/bench-models.sh BASE.onnx CANDIDATE.onnx...
# Env: COVERGENRE_SHARED_DATA (covers-v1), COVERS (how many covers, spread over the genres; 600),
#      THREADS (2), ROUNDS (2), PROFILE (dev: the profile the tests build; release is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 BASE.onnx CANDIDATE.onnx..." >&2; exit 2; }
DATA=${COVERGENRE_SHARED_DATA:-../shared/data/covers-v1}
COVERS=${COVERS:-600}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
PROFILE=${PROFILE:-dev}
[ -d "$DATA/train" ] || { echo "SKIPPED: $DATA not found (set COVERGENRE_SHARED_DATA)"; exit 0; }
DATA=$(cd "$DATA" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --profile "$PROFILE" --bin covergenre-classify >&2
BIN=target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")/covergenre-classify
# Every k-th cover in name order: all genres, the same covers for every model.
mkdir -p "$WORK/covers"
TOTAL=$(find "$DATA" -type f -iname '*.jpg' | wc -l)
STEP=$(( TOTAL / COVERS > 0 ? TOTAL / COVERS : 1 ))
find "$DATA" -type f -iname '*.jpg' | sort | awk -v s="$STEP" -v n="$COVERS" 'NR % s == 0 && c < n { print; c++ }' |
  while read -r f; do ln -s "$f" "$WORK/covers/$(basename "$(dirname "$f")")-$(basename "$f")"; done
N=$(find -L "$WORK/covers" -type f | wc -l)

echo "threads $THREADS; $N covers; profile $PROFILE"
scripts/bench/cpu.sh 2>&1
declare -A BEST
for round in $(seq "$ROUNDS"); do
  for model in "$@"; do
    start=$(date +%s.%N)
    "$BIN" --model "$model" --threads "$THREADS" --format csv --output "$WORK/out.csv" "$WORK/covers" 2> "$WORK/err" ||
      { cat "$WORK/err" >&2; exit 1; }
    secs=$(echo "$(date +%s.%N) - $start" | bc -l)
    best=${BEST[$model]:-}
    if [ -z "$best" ] || [ "$(echo "$secs < $best" | bc -l)" = 1 ]; then BEST[$model]=$secs; fi
  done
done
base=${BEST[$1]}
printf '%-50s %10s %8s\n' model images/s "vs first"
for model in "$@"; do
  awk -v m="$model" -v n="$N" -v s="${BEST[$model]}" -v b="$base" \
    'BEGIN { printf "%-50s %10.1f %7.0f%%\n", m, n / s, 100 * b / s }'
done
