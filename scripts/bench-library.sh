#!/usr/bin/env bash
# Music-library classify benchmark (docs/results.md): in one run, on the same model and albums,
#  1. covergenre-classify --library with $THREADS threads;
#  2. the Python way done well (scripts/bench_classify.py --library --draft: mutagen reads the
#     embedded art from the tags, Pillow decodes with draft() in $THREADS worker processes,
#     onnxruntime with $THREADS threads, batches of 32), and without draft() for reference;
#  3. the machine's limit: covergenre's decode alone (`bench-stages library`) and inference alone
#     (`bench-stages infer`), each timed for its CPU time: THREADS / (decode + infer core-s/album);
#  4. decode core-time per album for covergenre and for Pillow with draft() (decode-only runs);
#  5. peak memory (max RSS) of covergenre-classify over the whole library.
# The library (scripts/bench/make_library.py) is $ALBUMS albums from covers-v1, covers upscaled to
# 1000 px (a quarter 1400 px), JPEG q90; half as cover.jpg, half embedded in 10 MP3/FLAC tracks of a
# 3 s tone padded (sparsely) to $PAD_MB MB. Made once into $LIBRARY and reused by later runs.
# Targets: >= 1.3x the Python way with draft() (baseline model), >= 1.15x (shipped model),
# >= 90% of the machine limit, decode core-time <= Pillow draft()'s, peak RSS <= 300 MB (baseline)
# / 500 MB (shipped).
#
# Usage: scripts/bench-library.sh [MODEL.onnx]   (default: the study's baseline, random weights)
# Needs Pillow, mutagen, soundfile, numpy and onnxruntime in $COVERGENRE_PYTHON's environment
# (scripts/bench/setup-python.sh installs them into .deps/bench-venv).
# Env: COVERGENRE_SHARED_DATA (covers-v1), LIBRARY (where the library goes; default a temporary
#      folder, removed at the end), ALBUMS (2000), PAD_MB (5), THREADS (2), PROFILE (release),
#      COVERGENRE_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${COVERGENRE_SHARED_DATA:-../shared/data/covers-v1}
THREADS=${THREADS:-2}
PROFILE=${PROFILE:-release}
ALBUMS=${ALBUMS:-2000}
PAD_MB=${PAD_MB:-5}
PYTHON=${COVERGENRE_PYTHON:-.deps/bench-venv/bin/python}
[ -d "$DATA/train" ] || { echo "SKIPPED: $DATA not found (set COVERGENRE_SHARED_DATA)"; exit 0; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LIBRARY=${LIBRARY:-$WORK/library}

cargo build --profile "$PROFILE" --bin covergenre-classify --example random-model --example bench-stages >&2
DIR=target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
MODEL=${1:-$WORK/baseline.onnx}
[ -f "$MODEL" ] || "$DIR/examples/random-model" baseline "$MODEL" >&2
SIZE=$("$PYTHON" -c "import onnxruntime as o,sys; print(o.InferenceSession(sys.argv[1]).get_modelmeta().custom_metadata_map['input_height'])" "$MODEL")

stamp="albums=$ALBUMS pad_mb=$PAD_MB"
if [[ "$(cat "$LIBRARY/.stamp" 2>/dev/null)" != "$stamp" ]]; then
  echo "making the library in $LIBRARY ($stamp)" >&2
  rm -rf "$LIBRARY"
  "$PYTHON" scripts/bench/make_library.py "$DATA" "$LIBRARY" --albums "$ALBUMS" --pad-mb "$PAD_MB" >&2
  echo "$stamp" > "$LIBRARY/.stamp"
fi
DISK=$(du -sh "$LIBRARY" | cut -f1)
TRACK_GB=$(du -s --apparent-size -l --block-size=1G "$LIBRARY" | cut -f1)

# measure NAME CMD...: wall seconds, CPU seconds (user+sys, children included) and peak RSS (KiB).
measure() {
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" || {
    local rc=$?; [ $rc -eq 3 ] || { cat "$WORK/$name.err" >&2; exit $rc; }; }
  read -r wall user sys rss < <(tail -1 "$WORK/time")
  printf -v "${name}_wall" %s "$wall"
  printf -v "${name}_cpu" %s "$(echo "$user + $sys" | bc -l)"
  printf -v "${name}_rss" %s "$rss"
}

echo "library: $ALBUMS albums in $LIBRARY ($DISK on disk, ${TRACK_GB} GB as read); model: $MODEL (${SIZE}px); threads: $THREADS; profile: $PROFILE" >&2
scripts/bench/cpu.sh

py=("$PYTHON" scripts/bench_classify.py "$MODEL" "$LIBRARY" --library --workers "$THREADS" --threads "$THREADS" --batch 32)
measure rust "$DIR/covergenre-classify" --library --model "$MODEL" --threads "$THREADS" --format csv --output "$WORK/rust.csv" "$LIBRARY"
measure python "${py[@]}" "$WORK/python.csv" --draft
measure nodraft "${py[@]}" "$WORK/nodraft.csv"
measure decode "$DIR/examples/bench-stages" library "$LIBRARY" "$SIZE" "$THREADS"
measure pydecode "${py[@]}" "$WORK/pydecode.csv" --draft --decode-only
measure infer "$DIR/examples/bench-stages" infer "$MODEL" "$ALBUMS" "$THREADS"
N=$(($(wc -l < "$WORK/rust.csv") - 1))
[ "$N" -eq "$ALBUMS" ] || { echo "classify gave $N results for $ALBUMS albums:" >&2; tail -5 "$WORK/rust.err" >&2; exit 1; }

AGREE=$("$PYTHON" - "$WORK/rust.csv" "$WORK/python.csv" <<'PY'
import csv, sys
rust = {r["path"]: r["genre"] for r in csv.DictReader(open(sys.argv[1]))}
py = {r["path"]: r["genre"] for r in csv.DictReader(open(sys.argv[2]))}
same = sum(rust.get(p) == g for p, g in py.items())
print(f"{same}/{len(py)}")
PY
)

awk -v n="$N" -v t="$THREADS" -v rw="$rust_wall" -v pw="$python_wall" -v nw="$nodraft_wall" \
    -v rc="$rust_cpu" -v pc="$python_cpu" -v dc="$decode_cpu" -v pdc="$pydecode_cpu" -v ic="$infer_cpu" -v rr="$rust_rss" -v agree="$AGREE" \
    -v big="$([ "$SIZE" -le 128 ] && echo 300 || echo 500)" -v want="$([ "$SIZE" -le 128 ] && echo 1.3 || echo 1.15)" 'BEGIN {
  rust = n / rw; py = n / pw; nodraft = n / nw; dec = dc / n; pdec = pdc / n; inf = ic / n;
  limit = t / (dec + inf);
  printf "classify --library (Rust)  %7.1f albums/s  (%.2f s, peak %.0f MB)\n", rust, rw, rr / 1024;
  printf "Python way, draft()        %7.1f albums/s  (%.2f s); same top-1 on %s albums\n", py, pw, agree;
  printf "Python way, no draft()     %7.1f albums/s  (%.2f s)\n", nodraft, nw;
  printf "CPU time: classify %.3f, Python draft() %.3f core-ms/album (%.2fx; wall-clock ratios need an idle machine)\n", rc / n * 1000, pc / n * 1000, pc / rc;
  printf "decode alone: covergenre   %7.3f core-ms/album\n", dec * 1000;
  printf "decode alone: Pillow draft %7.3f core-ms/album (mutagen + draft() + resize, 2 processes)\n", pdec * 1000;
  printf "inference alone            %7.3f core-ms/album\n", inf * 1000;
  printf "machine limit              %7.1f albums/s  (%d cores / (decode + inference))\n", limit, t;
  printf "speed-up vs Python draft() %7.2fx  (target >= %sx)  %s\n", rust / py, want, ((rust / py >= want) ? "PASS" : "FAIL");
  printf "speed-up vs no draft()     %7.2fx\n", rust / nodraft;
  printf "share of the limit         %7.1f%%  (target >= 90%%)  %s\n", 100 * rust / limit, ((rust / limit >= 0.9) ? "PASS" : "FAIL");
  printf "same, in core-time         %7.1f%%  ((decode + inference) / classify core-ms per album; holds under load)\n", 100 * (dec + inf) / (rc / n);
  printf "decode vs Pillow draft()   %7.2fx its core-time (target <= 1)  %s\n", dec / pdec, ((dec <= pdec) ? "PASS" : "FAIL");
  printf "peak memory, %d albums   %5.0f MB  (target <= %d MB)  %s\n", n, rr / 1024, big, ((rr / 1024 <= big) ? "PASS" : "FAIL");
}'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
