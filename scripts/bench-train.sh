#!/usr/bin/env bash
# Training-throughput benchmark (not a test): `baseline` at 128x128, batch 32, two threads, on
# covers-v1, in float32 and in bf16 mixed precision, next to the study's Keras/TensorFlow stack and
# the same model in PyTorch, all run here, one after the other, on the same machine.
#
#   scripts/bench-train.sh [COVERS_DIR] [EPOCHS] [RUNS]      (default: 4 epochs, 3 runs)
#
# Ours is the whole pipeline (u8 images -> batches -> float/normalise -> step); the decode cache is
# warmed first so decoding is not counted, as the references decode up front too. Both precisions
# train RUNS runs with the same seeds; their best dev accuracy and macro-F1 (mean and std over the
# runs) compare the arithmetic, since one run's rounding alone moves a 469-cover dev score by a few
# points. The references need scripts/bench/setup-python.sh (.deps/bench-venv).
#
# Prints one JSON line per measurement, then the ratios against Keras measured in this run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
covers="${1:-$root/../shared/data/covers-v1}"
epochs="${2:-4}"
runs="${3:-3}"
export LIBTORCH="${LIBTORCH:-$root/.deps/libtorch/torch}" COVERGENRE_DEPS_DIR="${COVERGENRE_DEPS_DIR:-$root/.deps}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The dev profile is optimised (opt-level 1, dependencies 3) and the time is spent in libtorch.
cargo build --quiet --features train --bin covergenre-train
"$root/scripts/bench/cpu.sh"
trainer=("$root/target/debug/covergenre-train" --data "$covers" --threads 2 --device cpu
         --batch-size 32 --cache-dir "$work/cache")
train=("${trainer[@]}" --variants baseline)
"${train[@]}" --epochs 1 --precision fp32 --out "$work/warm" >/dev/null 2>&1   # fills the decode cache

# One JSON line from a run folder: mean training img/s and the share of the training passes spent
# making batches (every epoch of every run, from the log.csv files), and the best dev epoch's
# accuracy and macro-F1 as mean and std over the runs (summary.json, the trainer's selection rule).
summarise() {
  python3 - "$1" "$2" "$3" <<'PY'
import csv, glob, json, sys
label, out, variant = sys.argv[1:]
rows = [row for log in sorted(glob.glob(f"{out}/{variant}/run-*/log.csv")) for row in csv.DictReader(open(log))]
total = lambda key: sum(float(row[key]) for row in rows)
summary = next(v for v in json.load(open(f"{out}/summary.json"))["variants"] if v["variant"] == variant)
print(json.dumps({
    "framework": f"covergenre (tch, {label})",
    "img_per_s": round(total("images_per_second") / len(rows), 1),
    "input_share": round(total("input_seconds") / total("train_seconds"), 3),
    "best_dev_accuracy": [round(summary["accuracy"][k], 3) for k in ("mean", "std")],
    "best_dev_macro_f1": [round(summary["macro_f1"][k], 3) for k in ("mean", "std")],
    "runs": len(summary["runs"]),
    "epochs": len(rows) // len(summary["runs"]),
}))
PY
}

for precision in fp32 bf16; do
  "${train[@]}" --epochs "$epochs" --runs "$runs" --precision "$precision" --out "$work/$precision" \
    >/dev/null 2>"$work/stderr" || { cat "$work/stderr"; exit 2; }
  summarise "$precision" "$work/$precision" baseline | tee -a "$work/results.jsonl"
done
# The input share with on-the-fly augmentation (rotation, shift, shear, zoom, flip): the study's
# `augment` variant, one epoch at batch 32 (its accuracy after one epoch means nothing here).
"${trainer[@]}" --variants augment --epochs 1 --precision bf16 --out "$work/augment" \
  >/dev/null 2>"$work/stderr" || { cat "$work/stderr"; exit 2; }
summarise "bf16, augment variant" "$work/augment" augment

python="$root/.deps/bench-venv/bin/python"
if [[ -x "$python" ]]; then
  # One process per framework: TensorFlow and PyTorch in one process crash (both bring oneDNN).
  for framework in keras torch; do
    "$python" "$root/scripts/bench/train_reference.py" "$covers" --epochs 1 --only "$framework" \
      2>/dev/null | tee -a "$work/results.jsonl"
  done
  python3 - "$work/results.jsonl" <<'PY'
import json, sys
runs = {r["framework"]: r for r in map(json.loads, open(sys.argv[1]))}
keras = next(r["img_per_s"] for name, r in runs.items() if name.startswith("keras"))
for name, r in runs.items():
    print(f"{name:40s} {r['img_per_s']:7.1f} img/s  {r['img_per_s'] / keras:5.2f}x Keras")
PY
else
  echo "references skipped: run scripts/bench/setup-python.sh first" >&2
fi
