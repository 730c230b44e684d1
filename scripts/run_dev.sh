#!/usr/bin/env bash
# `make run`: prepare the database and demo data, then run the whole service in
# the foreground: web server (gunicorn) on $PORT (default 8000), one Celery worker,
# Celery beat and, when the Bedrock endpoint is the local emulator's, the emulator.
# Ctrl-C (or SIGTERM) stops every child; if any child dies, the rest are stopped.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export PATH="$VENV/bin:$PATH"
export PYTHONUNBUFFERED=1

PORT="${PORT:-8000}"
# Links that seed_demo and the app print point at this server.
export SITE_URL="${SITE_URL:-http://localhost:$PORT}"
py() { python "$@"; }

# The SQLite database and broker of the embedded default live here (settings' DATA_DIR).
mkdir -p "${DATA_DIR:-$ROOT/data}"

say "Applying migrations"
py manage.py migrate --noinput
say "Loading demo data"
seed_out="$(py manage.py seed_demo 2>&1)" || { printf '%s\n' "$seed_out" >&2; die "seed_demo failed"; }
printf '%s\n' "$seed_out"
say "Collecting static files"
py manage.py collectstatic --noinput -v 0

# Where the Bedrock client will connect, as the settings resolve it; the
# emulator runs only when that is a loopback address (the embedded default).
endpoint="$(py - <<'PY'
import os
from urllib.parse import urlsplit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agent_platform.settings")
from django.conf import settings

url = urlsplit(settings.AWS_ENDPOINT_URL_BEDROCK_RUNTIME or "")
loopback = url.hostname in ("127.0.0.1", "localhost", "::1")
print(("emulator" if loopback else "remote"), url.port or 80, "production" if settings.PRODUCTION else "")
PY
)"
read -r mode emulator_port production <<<"$endpoint"

declare -a pids=() order=()
declare -A names=()
# Each child's output is also kept here, to see when it is ready; removed on exit.
logs="$(mktemp -d "${TMPDIR:-/tmp}/agent-platform-run.XXXXXX")"

# spawn NAME COMMAND...: start a child in the background, its output prefixed with [NAME].
spawn() {
    local name="$1"
    shift
    "$@" > >(tee "$logs/$name.log" | sed -u "s/^/[$name] /") 2>&1 &
    pids+=($!)
    order+=("$name")
    names[$!]="$name"
}

stopping=""
stop_all() {
    [[ -n "$stopping" ]] && return
    stopping=1
    say "Stopping ${order[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    # A warm Celery shutdown finishes the task in hand; give it a while, then kill.
    local pid
    for _ in $(seq 150); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [[ $alive -eq 0 ]] && break
        sleep 0.2
    done
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            say "${names[$pid]} did not stop in 30s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    wait 2>/dev/null || true
    rm -rf "$logs"
    say "Stopped"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

if [[ "$mode" == emulator ]]; then
    spawn emulator python manage.py run_bedrock_emulator --port "$emulator_port"
fi
# gunicorn as in production, so a burst of requests waits in its backlog rather than being reset;
# RELOAD=1 restarts the workers when the code changes. Static files: WhiteNoise (collected above).
web=(gunicorn agent_platform.wsgi:application --bind "0.0.0.0:$PORT" --workers "${WEB_CONCURRENCY:-3}")
[[ -z "$production" ]] && web+=(--access-logfile -)
[[ "${RELOAD:-}" == 1 ]] && web+=(--reload)
spawn web "${web[@]}"
spawn worker celery -A agent_platform worker -l info --concurrency 2
spawn beat celery -A agent_platform beat -l info

# wait_http NAME URL: until URL answers (any HTTP status), or a child dies.
wait_http() {
    local name="$1" url="$2"
    for _ in $(seq 120); do
        python - "$url" <<'PY' && return 0
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
except OSError:
    sys.exit(1)
PY
        check_children
        sleep 0.5
    done
    die "$name did not answer at $url within a minute"
}
# wait_log NAME PATTERN: until NAME's output matches PATTERN, or a child dies.
wait_log() {
    local name="$1" pattern="$2"
    for _ in $(seq 240); do
        grep -qE "$pattern" "$logs/$name.log" 2>/dev/null && return 0
        check_children
        sleep 0.5
    done
    die "$name did not report ready within two minutes"
}
check_children() {
    local pid
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || die "${names[$pid]} exited while starting"
    done
}
[[ "$mode" == emulator ]] && wait_http emulator "http://127.0.0.1:$emulator_port/"
wait_http web "http://127.0.0.1:$PORT/healthz/"
wait_log worker "celery@.* ready\."

say "Agent Platform is running"
cat <<EOF_BANNER

    Admin     http://localhost:$PORT/admin/
    API docs  http://localhost:$PORT/api/docs/
    Health    http://localhost:$PORT/healthz/
    Bedrock   $([[ "$mode" == emulator ]] && echo "local emulator on http://127.0.0.1:$emulator_port" || echo "remote endpoint (no emulator started)")
    Running   ${order[*]}

$(printf '%s\n' "$seed_out" | sed 's/^/    /')

    Press Ctrl-C to stop everything.

EOF_BANNER

# Run until a child exits (then stop the rest and fail) or a signal arrives.
set +e
wait -n -p exited "${pids[@]}"
rc=$?
set -e
say "${names[$exited]:-a process} exited (status $rc); stopping the rest"
exit 1
