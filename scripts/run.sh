#!/usr/bin/env bash
# Runs the livepk server from source. No Redis or database needed: without LIVEPK_REDIS_URL it
# uses the embedded in-process store (one process only), and without LIVEPK_DATABASE_URL a SQLite
# file under ./data/ (relative to the repository root).
#
#   scripts/run.sh                       # debug build, listens on 0.0.0.0:50051, metrics on :9464
#   LIVEPK_RELEASE=1 scripts/run.sh      # optimised build (slower to compile)
#   LIVEPK_CONFIG=livepk.example.toml scripts/run.sh
#
# Arguments are passed to the livepk binary.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

profile=()
if [ "${LIVEPK_RELEASE:-0}" = 1 ]; then
    profile=(--release)
fi
exec cargo run "${profile[@]}" --bin livepk -- "$@"
