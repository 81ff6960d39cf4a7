#!/usr/bin/env bash
# End-to-end classify benchmark (docs/results.md): in one run, on the same model and covers,
#  1. covergenre-classify on covers-v1 with $THREADS threads;
#  2. the Python way (scripts/bench_classify.py: Pillow in $THREADS worker processes,
#     onnxruntime with $THREADS threads, batches of 32);
#  3. the machine's limit: decode+resize alone and inference alone, each timed for its CPU time,
#     give core-seconds per image; $THREADS cores then allow THREADS / (decode + infer) images/s;
#  4. peak memory of classify over 20,000 covers (the set repeated through symlinks).
# Targets: classify >= 1.6x Python, >= 85% of the limit, peak RSS <= 300 MB (<= 500 MB for a
# model of more than 128 px).
# With COMPARE_ARGS (e.g. "--batch-size 32", the default before issue 21), classify also runs
# with those arguments on both sets, in the same run, for a before/after line.
#
# Usage: scripts/bench-classify.sh [MODEL.onnx]   (default: the study's baseline variant with
# random weights, which costs exactly what a trained baseline costs)
# Needs scripts/bench/setup-python.sh first (Pillow, onnx, onnxruntime in .deps/bench-venv).
# Env: COVERGENRE_SHARED_DATA (covers-v1), THREADS (2), PROFILE (release), COVERGENRE_PYTHON,
#      BENCH_PYTHONPATH (extra site dir with Pillow, if the venv lacks it), COMPARE_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${COVERGENRE_SHARED_DATA:-../shared/data/covers-v1}
THREADS=${THREADS:-2}
PROFILE=${PROFILE:-release}
PYTHON=${COVERGENRE_PYTHON:-.deps/bench-venv/bin/python}  # made by scripts/bench/setup-python.sh
[ -d "$DATA/train" ] || { echo "SKIPPED: $DATA not found (set COVERGENRE_SHARED_DATA)"; exit 0; }
DATA=$(cd "$DATA" && pwd)   # absolute: the 20,000-cover set below is made of symlinks to it
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --profile "$PROFILE" --bin covergenre-classify --example random-model --example bench-stages >&2
DIR=target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
MODEL=${1:-$WORK/baseline.onnx}
[ -f "$MODEL" ] || "$DIR/examples/random-model" baseline "$MODEL" >&2
SIZE=$("$PYTHON" -c "import onnx,sys; m=onnx.load(sys.argv[1]); print({p.key:p.value for p in m.metadata_props}['input_height'])" "$MODEL")
MEMORY_TARGET=$([ "$SIZE" -gt 128 ] && echo 500 || echo 300)
read -r -a COMPARE <<< "${COMPARE_ARGS:-}"

# measure NAME CMD...: wall seconds, CPU seconds (user+sys) and peak RSS (KiB) into $NAME_*.
measure() {
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" || {
    local rc=$?; [ $rc -eq 3 ] || { cat "$WORK/$name.err" >&2; exit $rc; }; }
  read -r wall user sys rss < <(tail -1 "$WORK/time")
  printf -v "${name}_wall" %s "$wall"
  printf -v "${name}_cpu" %s "$(echo "$user + $sys" | bc -l)"
  printf -v "${name}_rss" %s "$rss"
}

N=$(find -L "$DATA" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | wc -l)
echo "covers: $N in $DATA; model: $MODEL (${SIZE}px); threads: $THREADS; profile: $PROFILE; $(nproc) cores" >&2
scripts/bench/cpu.sh

measure rust "$DIR/covergenre-classify" --model "$MODEL" --threads "$THREADS" --format csv --output "$WORK/rust.csv" "$DATA"
if [ ${#COMPARE[@]} -gt 0 ]; then
  measure compare "$DIR/covergenre-classify" --model "$MODEL" --threads "$THREADS" "${COMPARE[@]}" --format csv --output "$WORK/compare.csv" "$DATA"
fi
measure python env PYTHONPATH="${BENCH_PYTHONPATH:-}" "$PYTHON" scripts/bench_classify.py "$MODEL" "$DATA" "$WORK/python.csv" --workers "$THREADS" --threads "$THREADS" --batch 32
measure decode "$DIR/examples/bench-stages" decode "$DATA" "$SIZE" "$THREADS"
measure infer "$DIR/examples/bench-stages" infer "$MODEL" "$N" "$THREADS"

mkdir -p "$WORK/many"
find -L "$DATA" -type f -iname '*.jpg' | sort > "$WORK/list"
for copy in 0 1 2 3 4; do
  while read -r f; do echo "$copy $f"; done < "$WORK/list"
done > "$WORK/list5"
head -n 20000 "$WORK/list5" | while read -r copy f; do
  mkdir -p "$WORK/many/$copy"; ln -s "$f" "$WORK/many/$copy/$(basename "$(dirname "$f")")-$(basename "$f")"
done
measure many "$DIR/covergenre-classify" --model "$MODEL" --threads "$THREADS" --format csv --output "$WORK/many.csv" "$WORK/many"
MANY=$(($(wc -l < "$WORK/many.csv") - 1))
[ "$MANY" -eq 20000 ] || { echo "the memory run classified $MANY covers, not 20000:" >&2; tail -5 "$WORK/many.err" >&2; exit 1; }
if [ ${#COMPARE[@]} -gt 0 ]; then
  measure many_compare "$DIR/covergenre-classify" --model "$MODEL" --threads "$THREADS" "${COMPARE[@]}" --format csv --output "$WORK/many-compare.csv" "$WORK/many"
  [ "$(($(wc -l < "$WORK/many-compare.csv") - 1))" -eq 20000 ] || { echo "the compared memory run did not classify 20000 covers" >&2; exit 1; }
  awk -v n="$N" -v a="${COMPARE_ARGS}" -v cw="$compare_wall" -v rw="$rust_wall" -v cr="$many_compare_rss" -v mr="$many_rss" 'BEGIN {
    printf "classify %s: %.1f images/s (%.2f s), peak %.0f MB over 20000 covers\n", a, n / cw, cw, cr / 1024;
    printf "classify (defaults) vs that: %.3fx the speed, %.0f vs %.0f MB peak\n", cw / rw, mr / 1024, cr / 1024;
  }'
fi

AGREE=$("$PYTHON" - "$WORK/rust.csv" "$WORK/python.csv" <<'PY'
import csv, sys
rust = {r["path"]: r["genre"] for r in csv.DictReader(open(sys.argv[1]))}
py = {r["path"]: r["genre"] for r in csv.DictReader(open(sys.argv[2]))}
same = sum(rust.get(p) == g for p, g in py.items())
print(f"{same}/{len(py)}")
PY
)

awk -v n="$N" -v t="$THREADS" -v rw="$rust_wall" -v pw="$python_wall" -v dc="$decode_cpu" \
    -v ic="$infer_cpu" -v mr="$many_rss" -v mn="$MANY" -v agree="$AGREE" -v rr="$rust_rss" -v mt="$MEMORY_TARGET" 'BEGIN {
  rust = n / rw; py = n / pw; dec = dc / n; inf = ic / n; limit = t / (dec + inf);
  printf "classify (Rust)        %7.1f images/s  (%.2f s, peak %.0f MB)\n", rust, rw, rr / 1024;
  printf "Python way             %7.1f images/s  (%.2f s); same top-1 on %s covers\n", py, pw, agree;
  printf "decode+resize alone    %7.3f core-ms/image\n", dec * 1000;
  printf "inference alone        %7.3f core-ms/image\n", inf * 1000;
  printf "machine limit          %7.1f images/s  (%d cores / (decode + inference))\n", limit, t;
  printf "speed-up vs Python     %7.2fx  (target >= 1.6x)  %s\n", rust / py, ((rust / py >= 1.6) ? "PASS" : "FAIL");
  printf "share of the limit     %7.1f%%  (target >= 85%%)  %s\n", 100 * rust / limit, ((rust / limit >= 0.85) ? "PASS" : "FAIL");
  printf "peak memory, %d covers %5.0f MB  (target <= %d MB)  %s\n", mn, mr / 1024, mt, ((mr / 1024 <= mt) ? "PASS" : "FAIL");
}'
