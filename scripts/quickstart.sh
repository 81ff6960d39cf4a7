#!/usr/bin/env bash
# The README's main job in one command: set up (onnxruntime and libjpeg-turbo only, no libtorch),
# build, and classify a folder of covers with the shipped model, printing a table.
#   scripts/quickstart.sh [FOLDER...]     (default: ../shared/data/covers-v1/test when present)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh --classify
if [[ $# -eq 0 ]]; then
  default="$root/../shared/data/covers-v1/test"
  if [[ ! -d "$default" ]]; then
    echo "quickstart: no folder given and $default does not exist; pass a folder of covers" >&2
    exit 2
  fi
  set -- "$default"
fi
cargo build --release --locked --bin covergenre-classify
exec target/release/covergenre-classify --format table "$@"
