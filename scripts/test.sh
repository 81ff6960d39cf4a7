#!/usr/bin/env bash
# The test command (README "Quick start"): sets up native libraries, then runs every test with
# every feature. Works on a fresh machine with only Rust, Python 3 and pip.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --all-features --locked "$@"
