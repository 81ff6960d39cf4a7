#!/usr/bin/env bash
# Artist-context benchmark (a measurement, not a timed test): made-up libraries of $ALBUMS albums
# from covers-v1 covers the shipped model never trained on (dev and test), grouped into artists
# of 1 to 8 albums, where each artist's albums keep the artist's genre with probability c
# (else a genre at random), $TAGGED of them tagged (scripts/bench/artist_library.py). For each c
# in $KEEP, one tagging plan (`--library --tag --format json --min-confidence 0`, nothing
# written) gives, on the untagged albums, first-genre accuracy with the artist (the proposal) and
# without (the cover's own best, kept in the plan's `artist.cover`), the agreement and weight the
# plan measured, its leave-one-out check on the tagged albums, and the answers a scripted owner
# (answering with the truth) needs in --interactive album by album and with `Same for the N
# other albums? [y/N]`. One JSON line per c on stdout.
#
# Usage: scripts/bench-artist.sh [MODEL.onnx]   (default: the shipped models/covergenre.onnx)
# Env: COVERGENRE_SHARED_DATA (covers-v1), ALBUMS (2000), TAGGED (0.8), KEEP ("1.0 0.85 0.6 0.3"),
#      THREADS (2), SEED (7), PROFILE (dev: the test build's optimised binary), COVERGENRE_PYTHON,
#      BIN (a covergenre-classify already built: no build).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${COVERGENRE_SHARED_DATA:-../shared/data/covers-v1}
ALBUMS=${ALBUMS:-2000}
TAGGED=${TAGGED:-0.8}
KEEP=${KEEP:-1.0 0.85 0.6 0.3}
THREADS=${THREADS:-2}
SEED=${SEED:-7}
PROFILE=${PROFILE:-dev}
PYTHON=${COVERGENRE_PYTHON:-$(command -v python3)}
MODEL=${1:-models/covergenre.onnx}
[ -d "$DATA/train" ] || { echo "SKIPPED: $DATA not found (set COVERGENRE_SHARED_DATA)"; exit 0; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

scripts/bench/cpu.sh
if [ -z "${BIN:-}" ]; then
  cargo build --profile "$PROFILE" --bin covergenre-classify >&2
  BIN=target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")/covergenre-classify
fi

for c in $KEEP; do
  "$PYTHON" scripts/bench/artist_library.py make "$DATA" "$WORK/music" "$ALBUMS" "$c" "$TAGGED" "$SEED"
  start=$(date +%s)
  status=0
  "$BIN" --model "$MODEL" --threads "$THREADS" --library --tag --format json --min-confidence 0 \
    "$WORK/music" > "$WORK/plan.json" 2> "$WORK/log" || status=$?
  # 3: some albums could not be read (none here); anything else is a failure.
  if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then cat "$WORK/log" >&2; exit "$status"; fi
  echo "c=$c: plan in $(( $(date +%s) - start )) s" >&2
  "$PYTHON" scripts/bench/artist_library.py score "$WORK/plan.json" "$WORK/truth.json" "$WORK/music" "$c"
done
