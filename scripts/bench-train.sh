#!/usr/bin/env bash
# Training-throughput benchmark (not a test): `baseline` at 128x128, batch 32, two threads, on
# covers-v1, next to the study's Keras/TensorFlow stack and the same model in PyTorch, all run
# here, one after the other, on the same machine.
#
#   scripts/bench-train.sh [COVERS_DIR] [EPOCHS]
#
# Ours is the whole pipeline (u8 images -> batches -> float/normalise -> step); the decode cache is
# warmed first so decoding is not counted, as the references decode up front too. The references
# need scripts/bench/setup-python.sh (.deps/bench-venv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
covers="${1:-$root/../shared/data/covers-v1}"
epochs="${2:-1}"
export LIBTORCH="${LIBTORCH:-$root/.deps/libtorch/torch}" COVERGENRE_DEPS_DIR="${COVERGENRE_DEPS_DIR:-$root/.deps}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The dev profile is optimised (opt-level 1, dependencies 3) and the time is spent in libtorch.
cargo build --quiet --features train --bin covergenre-train
train=("$root/target/debug/covergenre-train" --data "$covers" --variants baseline --threads 2
       --device cpu --batch-size 32 --cache-dir "$work/cache")
"${train[@]}" --epochs 1 --out "$work/warm" >/dev/null 2>&1   # fills the decode cache
"${train[@]}" --epochs "$epochs" --out "$work/run" >/dev/null 2>"$work/stderr" || { cat "$work/stderr"; exit 2; }
# images_per_second is the 11th column of log.csv; dev accuracy the 6th.
awk -F, 'NR > 1 { ips += $11; acc = $6; n++ } END {
  printf "{\"framework\": \"covergenre (tch)\", \"img_per_s\": %.1f, \"dev_accuracy\": %.3f}\n", ips / n, acc }' \
  "$work/run/baseline/run-1/log.csv"

python="$root/.deps/bench-venv/bin/python"
if [[ -x "$python" ]]; then
  "$python" "$root/scripts/bench/train_reference.py" "$covers" --epochs "$epochs"
else
  echo "references skipped: run scripts/bench/setup-python.sh first" >&2
fi
