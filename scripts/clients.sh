#!/usr/bin/env bash
# The gateway's and operators' view, run by .ci/run (also by hand; root installs what is missing):
#
#   scripts/clients.sh contract    buf breaking against the released contract (proto/released/),
#                                  and proof that a breaking edit fails it
#   scripts/clients.sh clients     generate Go and PHP stubs from proto/ (into target/clients/,
#                                  never committed), build the Go gateway, `php -l` everything,
#                                  `promtool check rules` on deploy/monitoring/, then start the
#                                  real livepk binary and run the Go client and the PHP smoke
#                                  client against it, and `promtool check metrics` on its /metrics
#   scripts/clients.sh gen         only generate the stubs
#   scripts/clients.sh release     write proto/released/pk-v1.binpb from proto/ (see README
#                                  "Releasing a contract version")
#
# Everything comes from Debian's packages (Go, protoc and its Go/PHP plugins, PHP, promtool) and
# PyPI (buf, in .venv). Go builds in GOPATH mode against Debian's packaged modules: no download.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
# shellcheck source=scripts/services.sh
source scripts/services.sh

out="$root/target/clients"
buf="$LIVEPK_VENV/bin/buf"
released="proto/released/pk-v1.binpb"

say() { printf '[clients] %s\n' "$*"; }

# The Debian packages the clients need, installed when one of their commands is missing.
ensure_client_tools() {
    local missing=()
    command -v go >/dev/null || missing+=(golang-go)
    command -v protoc >/dev/null || missing+=(protobuf-compiler)
    command -v protoc-gen-go >/dev/null || missing+=(protoc-gen-go)
    command -v protoc-gen-go-grpc >/dev/null || missing+=(protoc-gen-go-grpc)
    command -v grpc_php_plugin >/dev/null || missing+=(protobuf-compiler-grpc)
    [ -d /usr/share/gocode/src/google.golang.org/grpc ] || missing+=(golang-google-grpc-dev)
    [ -d /usr/share/gocode/src/google.golang.org/protobuf ] || missing+=(golang-google-protobuf-dev)
    [ -d /usr/share/gocode/src/github.com/golang/protobuf ] || missing+=(golang-github-golang-protobuf-1-5-dev)
    [ -d /usr/share/gocode/src/google.golang.org/genproto/googleapis/rpc/errdetails ] ||
        missing+=(golang-google-genproto-dev)
    command -v php >/dev/null || missing+=(php-cli)
    php -r 'exit(extension_loaded("curl") ? 0 : 1);' 2>/dev/null || missing+=(php-curl)
    [ -f /usr/share/php/Google/Protobuf/Internal/Message.php ] || missing+=(php-google-protobuf)
    command -v promtool >/dev/null || missing+=(prometheus)
    if [ "${#missing[@]}" -gt 0 ]; then
        _svc_apt_install "${missing[@]}"
    fi
    say "$(go version), $(protoc --version), PHP $(php -r 'echo PHP_VERSION;'), $(promtool --version 2>&1 | head -n 1)"
}

# Go import path of a proto file's package: pk/linkcall/v1/x.proto -> livepk/gen/pk/linkcall/v1
go_mapping() {
    local file opts=()
    for file in $(cd proto && find pk -name '*.proto' | sort); do
        opts+=("M$file=livepk/gen/$(dirname "$file")")
    done
    local IFS=,
    printf '%s' "${opts[*]}"
}

generate() {
    local protos
    protos=$(cd proto && find pk -name '*.proto' | sort)
    rm -rf "$out/gopath/src/livepk/gen" "$out/php"
    mkdir -p "$out/gopath/src/livepk/gen" "$out/php"
    local mapping
    mapping=$(go_mapping)
    # shellcheck disable=SC2086 # one argument per file
    (cd proto && protoc -I . -I /usr/include \
        --go_out="$out/gopath/src/livepk/gen" --go_opt=paths=source_relative,"$mapping" \
        --go-grpc_out="$out/gopath/src/livepk/gen" --go-grpc_opt=paths=source_relative,"$mapping" \
        $protos)
    # PHP: message classes (Pk\Linkcall\V1\...), client stubs for ext-grpc (...Client), and
    # google.rpc.Status / ErrorInfo to read grpc-status-details-bin.
    # shellcheck disable=SC2086
    (cd proto && protoc -I . -I /usr/include -I "$root/examples/php-gateway/proto" \
        --php_out="$out/php" --grpc_out="$out/php" --plugin=protoc-gen-grpc="$(command -v grpc_php_plugin)" \
        $protos google/rpc/status.proto google/rpc/error_details.proto)
    say "generated $(find "$out/gopath/src/livepk/gen" -name '*.go' | wc -l) Go files, $(find "$out/php" -name '*.php' | wc -l) PHP files in $out"
}

build_go() {
    # GOPATH mode: the generated packages and the example in a temporary GOPATH in front of
    # Debian's /usr/share/gocode (grpc, protobuf, genproto): nothing is downloaded.
    mkdir -p "$out/gopath/src/livepk/examples" "$out/gocache"
    ln -sfn "$root/examples/go-gateway" "$out/gopath/src/livepk/examples/go-gateway"
    (cd "$out/gopath/src/livepk/examples/go-gateway" &&
        GO111MODULE=off GOPATH="$out/gopath:/usr/share/gocode" GOCACHE="$out/gocache" \
            go vet . && GO111MODULE=off GOPATH="$out/gopath:/usr/share/gocode" GOCACHE="$out/gocache" \
            go build -o "$out/go-gateway" .)
    say "built $out/go-gateway"
}

lint_php() {
    local file count=0
    while IFS= read -r file; do
        php -l "$file" >/dev/null || { php -l "$file"; return 1; }
        count=$((count + 1))
    done < <(find "$out/php" "$root/examples/php-gateway" -name '*.php' | sort)
    say "php -l: $count files, no syntax errors"
}

check_monitoring() {
    promtool check rules deploy/monitoring/alerts.yml
    promtool test rules deploy/monitoring/alerts_test.yml
    # Every metric the rules and the dashboard name is one the engine registers.
    local name unknown=0
    for name in $(grep -oh 'livepk_[a-z_]*' deploy/monitoring/alerts.yml deploy/monitoring/grafana-dashboard.json | sort -u); do
        name="${name#livepk_}"
        name="${name%_bucket}"
        [ -n "$name" ] || continue
        grep -q "\"$name\"" crates/engine/src/metrics.rs || { say "unknown metric livepk_$name"; unknown=1; }
    done
    [ "$unknown" -eq 0 ] || return 1
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("[clients] dashboard %r: %d panels" % (d["title"], len(d["panels"])))' \
        deploy/monitoring/grafana-dashboard.json
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

server_pid=""
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}

# Starts target/debug/livepk on a free port, on a fresh key prefix of the local Redis (started
# when needed) and a fresh SQLite file, with gateway and admin tokens set.
start_server() {
    ensure_redis
    cargo build --quiet --bin livepk
    local dir
    dir="$(mktemp -d "${TMPDIR:-/tmp}/livepk-clients.XXXXXX")"
    metrics_port="$(free_port)"
    export LIVEPK_AUTH_TOKEN="gateway-$RANDOM$RANDOM" LIVEPK_ADMIN_TOKEN="admin-$RANDOM$RANDOM"
    LIVEPK_LISTEN=127.0.0.1:0 LIVEPK_ADDRESS_FILE="$dir/address" \
        LIVEPK_METRICS_LISTEN="127.0.0.1:$metrics_port" \
        LIVEPK_REDIS_URL="${LIVEPK_TEST_REDIS_URL:-redis://127.0.0.1:6379}" \
        LIVEPK_KEY_PREFIX="clients-$RANDOM$RANDOM" \
        LIVEPK_DATABASE_URL="sqlite://$dir/livepk.db?mode=rwc" \
        LIVEPK_LOG_FORMAT=json RUST_LOG="${RUST_LOG:-info}" \
        "$root/target/debug/livepk" >"$dir/server.log" 2>&1 &
    server_pid=$!
    server_log="$dir/server.log"
    trap stop_server EXIT
    local i
    for i in $(seq 1 300); do
        [ -s "$dir/address" ] && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$server_log" >&2; say "livepk exited"; return 1; }
        sleep 0.1
    done
    address="$(cat "$dir/address")"
    say "livepk (pid $server_pid) on $address, metrics on 127.0.0.1:$metrics_port, log $server_log"
}

run_clients() {
    start_server
    "$out/go-gateway" -addr "$address" 2>&1 | tee "$out/go-gateway.log"
    # The gateway's W3C trace continued on the server: its trace id is in the server's JSON log.
    local trace
    trace="$(grep -o 'trace id [0-9a-f]\{32\}' "$out/go-gateway.log" | cut -d' ' -f3)"
    if ! grep -q "\"trace_id\":\"$trace\"" "$server_log"; then
        say "FAIL: the Go gateway's trace id $trace is not in the server's log $server_log"
        return 1
    fi
    say "traceparent: the server logged $(grep -c "\"trace_id\":\"$trace\"" "$server_log") lines of the Go gateway's trace $trace"
    (cd "$root/examples/php-gateway" && LIVEPK_PHP_GEN="$out/php" php smoke.php "$address")
    # The running server's /metrics, as Prometheus would scrape it, through promtool's parser.
    python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' \
        "http://127.0.0.1:$metrics_port/metrics" >"$out/metrics.txt"
    promtool check metrics <"$out/metrics.txt"
    local gauge
    for gauge in livepk_store_up livepk_sql_up; do
        grep -qx "$gauge 1" "$out/metrics.txt" || { say "FAIL: /metrics has no '$gauge 1'"; return 1; }
    done
    say "promtool check metrics: $(grep -c '^livepk_' "$out/metrics.txt") samples parsed"
    stop_server
}

contract() {
    ensure_venv_tools
    "$buf" build -o /dev/null
    "$buf" breaking --against "$released"
    say "buf breaking: proto/ is compatible with $released"
    # The guard must bite: a copy of proto/ with a field renumbered has to fail it.
    local scratch
    scratch="$(mktemp -d "${TMPDIR:-/tmp}/livepk-breaking.XXXXXX")"
    cp -r proto buf.yaml "$scratch/"
    sed -i 's/^  uint64 receiver_id = 3;/  uint64 receiver_id = 33;/' "$scratch/proto/pk/gift/v1/gift.proto"
    grep -q 'receiver_id = 33;' "$scratch/proto/pk/gift/v1/gift.proto" || { say "the breaking edit did not apply"; return 1; }
    if (cd "$scratch" && "$buf" breaking --against "$root/$released") >"$scratch/breaking.log" 2>&1; then
        say "FAIL: buf breaking accepted a renumbered field"
        return 1
    fi
    say "buf breaking rejects a breaking edit (gift.proto receiver_id 3 -> 33):"
    sed 's/^/    /' "$scratch/breaking.log"
    echo
    rm -rf "$scratch"
}

release() {
    ensure_venv_tools
    "$buf" build --exclude-source-info -o "$released"
    say "wrote $released from proto/: commit it with the release"
}

case "${1:-clients}" in
contract) contract ;;
gen)
    ensure_client_tools
    generate
    ;;
release) release ;;
clients)
    ensure_client_tools
    generate
    build_go
    lint_php
    check_monitoring
    run_clients
    ;;
*)
    echo "usage: $0 [contract|clients|gen|release]" >&2
    exit 2
    ;;
esac
