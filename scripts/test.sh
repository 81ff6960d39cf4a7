#!/usr/bin/env bash
# The test command (README "Quick start", docs/development.md): sets up native libraries, runs
# every test with every feature, checks that the crate docs build without a warning, then runs
# the beets plugin's tests. Works on a fresh machine with only Rust, Python 3 and pip. Arguments
# go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --all-features --locked "$@"

# The fuzz targets (fuzz/, run under cargo-fuzz by scripts/fuzz.sh) still compile against the
# library: nothing else builds them, and an API change once broke one unnoticed.
cargo check --manifest-path fuzz/Cargo.toml --locked --bins

# The crate docs (cargo doc) build without a warning: broken links and stray HTML fail here.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features --locked

# The beets plugin's tests (integrations/beets) run the covergenre-classify that cargo test built.
profile=debug
for arg in "$@"; do [[ $arg == --release ]] && profile=release; done
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | .deps/venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
cd integrations/beets
COVERGENRE_CLASSIFY="$target_dir/$profile/covergenre-classify" ../../.deps/venv/bin/python -m pytest -q

