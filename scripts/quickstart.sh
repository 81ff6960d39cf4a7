#!/usr/bin/env bash
# The README's main job in one command: set up (onnxruntime and libjpeg-turbo only, no libtorch),
# build, and classify a folder of covers with the shipped model. Prints what happened (covers
# per genre, the most and least certain covers, the time) and writes the full results as CSV and
# the review page into target/quickstart/.
#   scripts/quickstart.sh [FOLDER...]     (default: ../shared/data/covers-v1/test when present)
set -euo pipefail
here="$PWD"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh --classify
if [[ $# -eq 0 ]]; then
  # Through cd and pwd, so the covers' paths carry no "/../".
  default="$(cd "$root/.." && pwd)/shared/data/covers-v1/test"
  if [[ ! -d "$default" ]]; then
    echo "quickstart: no folder given and $default does not exist; pass a folder of covers" >&2
    exit 2
  fi
  set -- "$default"
fi
cargo build --release --locked --bin covergenre-classify
results="$root/target/quickstart"
mkdir -p "$results"
# From the caller's folder: FOLDER arguments are relative to it, and so are the paths shown.
cd "$here"
"$root/target/release/covergenre-classify" --summary --format csv --output "$results/genres.csv" \
  --report "$results/review.html" "$@"
echo "quick start: ${SECONDS} s in all (set-up, build and classifying)"
