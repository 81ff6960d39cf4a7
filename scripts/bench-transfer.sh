#!/usr/bin/env bash
# The transfer recipe's two stages against PyTorch doing the same thing (issue 32, item 3), in
# one invocation on one machine:
#   1. the frozen pass: EfficientNet-Lite0's blocks 0-11 over covers at 224 px, in inference
#      (ours: libtorch or onnxruntime, whichever the trainer measures faster);
#   2. fine-tuning blocks 12-15 and the head on the cached 192x7x7 maps, batch 32, float32 and
#      bf16.
# Ours: `covergenre-train --variants effnet-lite0 --epochs 11` (covers-v1 train, each cover and
# its mirror image: 7,542 images plus 469 dev covers through the frozen layers; then the head
# epochs on pooled features, then fine-tuning epochs), read from the trainer's log (the cache
# line) and log.csv (the fine-tuning epochs: those under 1,000 img/s; the head's run at tens of
# thousands). PyTorch: scripts/bench/transfer_reference.py on 1,024 of the covers.
#
# Usage: scripts/bench-transfer.sh [COVERS]   (default ../shared/data/covers-v1)
# Needs .deps/bench-venv (scripts/bench/setup-python.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
covers="${1:-${COVERGENRE_SHARED_DATA:-$root/../shared/data/covers-v1}}"
[[ -d "$covers/train" ]] || { echo "SKIPPED: $covers not found"; exit 0; }
python="$root/.deps/bench-venv/bin/python"
[[ -x "$python" ]] || { echo "run scripts/bench/setup-python.sh first" >&2; exit 2; }
export LIBTORCH="${LIBTORCH:-$root/.deps/libtorch/torch}" COVERGENRE_DEPS_DIR="${COVERGENRE_DEPS_DIR:-$root/.deps}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --quiet --features train --bin covergenre-train --bin covergenre-train-libtorch
"$root/scripts/bench/cpu.sh"
for precision in fp32 bf16; do
  "$root/target/debug/covergenre-train" --data "$covers" --variants effnet-lite0 --epochs 11 \
    --precision "$precision" --threads 2 --device cpu --cache-dir "$work/cache" \
    --out "$work/$precision" > /dev/null 2> "$work/$precision.err" \
    || { cat "$work/$precision.err" >&2; exit 2; }
  python3 - "$work/$precision" "$precision" <<'PY' | tee -a "$work/results.jsonl"
import csv, json, re, sys
out, precision = sys.argv[1:]
err = open(f"{out}.err").read()
images, seconds = re.search(r"activations of (\d+) images in ([\d.]+) s", err).groups()
engine = re.search(r"computing the cache with (\w+)", err)
rows = list(csv.DictReader(open(f"{out}/effnet-lite0/run-1/log.csv")))
tuned = [float(r["images_per_second"]) for r in rows if float(r["images_per_second"]) < 1000]
if precision == "fp32":
    print(json.dumps({"framework": "covergenre", "stage": "frozen pass",
                      "engine": engine.group(1) if engine else "libtorch",
                      "img_per_s": round(int(images) / float(seconds), 1)}))
print(json.dumps({"framework": "covergenre" + ("" if precision == "fp32" else "-bf16"),
                  "stage": "fine-tuning", "epochs": len(tuned),
                  "img_per_s": round(sum(tuned) / len(tuned), 1)}))
PY
done
"$python" "$root/scripts/bench/transfer_reference.py" "$covers" --images 1024 --epochs 2 2>/dev/null \
  | tee -a "$work/results.jsonl"
python3 - "$work/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def rate(framework, stage):
    return next(r["img_per_s"] for r in rows if r["framework"] == framework and r["stage"].startswith(stage))
for stage, ours, theirs in (("frozen pass", "covergenre", "pytorch"),
                            ("fine-tuning", "covergenre", "pytorch"),
                            ("fine-tuning", "covergenre-bf16", "pytorch-bf16-autocast")):
    a, b = rate(ours, stage), rate(theirs, stage)
    print(f"{stage:12s} {ours:16s} {a:7.1f} img/s   {theirs:22s} {b:7.1f} img/s   {a / b:5.2f}x")
PY
