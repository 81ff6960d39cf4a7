#!/usr/bin/env bash
# Python references for the benchmarks (not needed by the toolkit or its tests):
# TensorFlow 2.21 CPU (the study's Keras stack), PyTorch 2.13, Pillow, onnx, onnxruntime 1.31.1,
# mutagen and soundfile (bench-library: embedded art, generated MP3/FLAC tracks).
# Installs into .deps/bench-venv; idempotent.
# --library: only what scripts/bench-learn.sh needs to make an owner's library (Pillow, numpy,
# mutagen, soundfile), into .deps/bench-library-venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.deps/bench-venv"
want="tensorflow-cpu==2.21.0 torch==2.13.0 pillow==12.0.0 onnxruntime==1.31.1 onnx==1.23.2 psutil==7.2.2 mutagen==1.48.1 soundfile==0.14.0"
if [[ "${1:-}" == "--library" ]]; then
  venv="$root/.deps/bench-library-venv"
  want="pillow==12.0.0 numpy mutagen==1.48.1 soundfile==0.14.0"
fi
stamp="$venv/.stamp"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then exit 0; fi
python3 -m venv "$venv"
# shellcheck disable=SC2086
"$venv/bin/pip" install --quiet --find-links "${COVERGENRE_WHEELS:-$HOME/.cache/covergenre/wheels}" $want
echo "$want" > "$stamp"
