#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration (incl. the Redis and MariaDB ones) and doc
# tests. On a fresh Debian machine it installs and starts Redis and MariaDB when they are not
# answering (needs root for apt-get), then points the tests at them:
#   LIVEPK_TEST_REDIS_URL=redis://127.0.0.1:6379
#   LIVEPK_TEST_REDIS_CLUSTER_URL=redis+cluster://127.0.0.1:7101,...,127.0.0.1:7106 (3 primaries +
#     3 replicas it starts itself when none answers, scripts/services.sh ensure_redis_cluster)
#   LIVEPK_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306
# Extra arguments go to the test runner, e.g. `scripts/test.sh -E 'test(conformance)'` with nextest.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/services.sh
source scripts/services.sh

ensure_redis
ensure_redis_cluster
ensure_mariadb
ensure_nextest
sweep_test_keys || true  # housekeeping: never fails the run

export LIVEPK_TEST_REDIS_URL="${LIVEPK_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
export LIVEPK_TEST_REDIS_CLUSTER_URL="${LIVEPK_TEST_REDIS_CLUSTER_URL:-$(redis_cluster_url)}"
export LIVEPK_TEST_MYSQL_URL="${LIVEPK_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

status=0
# Doc tests first (nextest does not run them), so that the last summary
# printed is the main runner's ("Summary [...] N tests run: N passed" for nextest).
cargo test --workspace --doc --no-fail-fast || status=$?

# Default targets (libs, bins, integration tests), not --all-targets: benches are
# `harness = false` programs, and a test runner that lists or runs them would run the benchmark.
# (clippy in .ci/run still checks the benches compile.)
if [ "$LIVEPK_NEXTEST" = 1 ]; then
    cargo nextest run --workspace --no-fail-fast "$@" || status=$?
else
    cargo test --workspace --no-fail-fast "$@" || status=$?
fi

if [ "$status" -ne 0 ]; then
    echo "scripts/test.sh: FAILED (exit $status)" >&2
fi
exit "$status"
