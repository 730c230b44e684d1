#!/usr/bin/env bash
# Throwaway PostgreSQL and Redis servers for the test suite, on loopback only.
#   scripts/test_services.sh start DIR   start both; write DIR/env (the exports below)
#   scripts/test_services.sh stop DIR    stop both and delete DIR (safe to call twice)
# DIR/env exports TEST_POSTGRES_URL and TEST_REDIS_URL. Nothing is kept: the
# PostgreSQL cluster and the Redis server live in DIR and go with it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PG_PORT_FROM="${TEST_POSTGRES_PORT:-54329}"
REDIS_PORT_FROM="${TEST_REDIS_PORT:-63799}"

# Debian's PostgreSQL, newest major version installed (not whatever pg_ctl is first on PATH).
pg_bin() {
    local dir
    dir="$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1)"
    [[ -x "$dir/initdb" ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
    echo "$dir"
}

# PostgreSQL refuses to run as root: as root, run its programs as the postgres user.
as_pg() {
    if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
    local dir="$1" bin pg_port redis_port
    bin="$(pg_bin)"
    mkdir -p "$dir"
    local pgdata="$dir/postgres"
    mkdir -p "$pgdata"
    if is_root; then
        # The postgres user must reach its data directory through DIR.
        chmod 755 "$dir"
        chown postgres: "$pgdata"
    fi
    chmod 700 "$pgdata"

    pg_port="$(free_port "$PG_PORT_FROM")"
    say "Starting PostgreSQL ($("$bin/postgres" --version | grep -oE '[0-9]+(\.[0-9]+)+' | head -n 1)) on 127.0.0.1:$pg_port"
    as_pg "$bin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    # Durability is pointless for a throwaway server; without it the suite runs faster.
    if ! as_pg "$bin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -p $pg_port -k $pgdata -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        >/dev/null; then
        cat "$pgdata/server.log" >&2
        die "PostgreSQL did not start"
    fi
    echo "$bin" >"$dir/pg_bin"
    "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres agent_platform

    redis_port="$(free_port "$REDIS_PORT_FROM")"
    say "Starting Redis ($(redis-server --version | grep -o 'v=[0-9.]*')) on 127.0.0.1:$redis_port"
    redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
    local i
    for i in $(seq 100); do
        redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG && break
        [[ $i -eq 100 ]] && { cat "$dir/redis.log" >&2; die "Redis did not start"; }
        sleep 0.1
    done

    cat >"$dir/env" <<ENV
export TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$pg_port/agent_platform
export TEST_REDIS_URL=redis://127.0.0.1:$redis_port/0
ENV
}

stop() {
    local dir="$1"
    [[ -d "$dir" ]] || return 0
    if [[ -f "$dir/redis.pid" ]]; then
        local pid
        pid="$(cat "$dir/redis.pid")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    if [[ -f "$dir/postgres/postmaster.pid" ]]; then
        local bin
        bin="$(cat "$dir/pg_bin" 2>/dev/null || pg_bin)"
        as_pg "$bin/pg_ctl" -D "$dir/postgres" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    say "Test servers stopped"
}

case "${1:-}:${2:-}" in
    start:?*) start "$2" ;;
    stop:?*) stop "$2" ;;
    *) die "usage: $0 start|stop DIR" ;;
esac
