#!/usr/bin/env bash
# Fuzzes every parser that reads untrusted bytes (fuzz/, docs/development.md "Fuzzing"): builds the cargo-fuzz
# targets (nightly, address sanitizer), writes the seed corpora (made-up images, audio, model,
# .npy, CSV; plus a few real covers from covers-v1 when present, never committed) and runs each
# target for SECONDS (default 600), one process at a time, with a 10 s per-input timeout and
# 1 GB RSS/malloc limits. Prints per target: executions, seconds, findings (files libFuzzer left
# in fuzz/artifacts/<target>/: crash-*, timeout-*, oom-*, leak-*). Exits 1 when any target has
# findings. Not part of the test command.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (default: all targets)
# Needs: rustup's nightly toolchain and `cargo install cargo-fuzz`.
# Env: COVERGENRE_SHARED_DATA (covers-v1), COVERS (how many real covers to seed with; 8).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_EACH=${1:-600}
shift || true
DATA=${COVERGENRE_SHARED_DATA:-../../shared/data/covers-v1}
COVERS=${COVERS:-8}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(decode_image audio_tags tag_edit predictions onnx_metadata npy_labels csv_manifest legacy_checkpoint)
fi

cargo +nightly fuzz build
# The seed maker is built with the targets (same flags); run it from the fuzz build folder.
./target/x86_64-unknown-linux-gnu/release/make_seeds
if [ -d "$DATA" ]; then
    # Small real JPEGs (under 40 kB, quick to mutate), spread over the genres; awk reads all
    # of its input, so no SIGPIPE under pipefail.
    find "$DATA" -name '*.jpg' -size -40k | sort | awk -v n="$COVERS" 'NR % 97 == 1 && c < n { print; c++ }' |
        while read -r cover; do cp "$cover" "corpus/decode_image/covers-v1-$(basename "$cover")"; done
else
    echo "note: $DATA not found, decode_image is seeded with made-up images only" >&2
fi
# mutagen's test files (scripts/setup.sh puts them in .deps/mutagen-corpus): odd ID3v2, FLAC,
# Ogg and MP4 files for tag_edit, never committed.
if [ -d ../.deps/mutagen-corpus ]; then
    find ../.deps/mutagen-corpus \( -name '*.mp3' -o -name '*.id3' -o -name '*.flac' -o -name '*.ogg' \
        -o -name '*.opus' -o -name '*.spx' -o -name '*.oggflac' -o -name '*.m4a' -o -name '*.m4b' \
        -o -name '*.mp4' -o -name '*.3g2' \) -size -64k \
        -exec cp {} corpus/tag_edit/ \;
fi

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-15s %12s %8s %9s\n' target executions seconds findings
status=0
for target in "${TARGETS[@]}"; do
    mkdir -p "artifacts/$target"
    log="artifacts/$target.log"
    start=$(date +%s)
    cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=1024 \
        -print_final_stats=1 >"$log" 2>&1 || true
    seconds=$(($(date +%s) - start))
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    findings=$(find "artifacts/$target" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
    printf '%-15s %12s %8s %9s\n' "$target" "${runs:-?}" "$seconds" "$findings"
    if [ "$findings" -gt 0 ]; then
        status=1
        find "artifacts/$target" -type f | sed 's/^/    /'
        grep -m3 -E 'ERROR|panicked' "$log" | sed 's/^/    /' || true
    fi
done
exit $status
