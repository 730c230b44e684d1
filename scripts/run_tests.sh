#!/usr/bin/env bash
# `make test`: the whole suite, with throwaway PostgreSQL and Redis servers.
#   1. ruff check . and lint-imports (the layer contracts in pyproject.toml)
#   2. pytest, the whole suite on SQLite
#   3. pytest -m postgres, the database-heavy tests again on PostgreSQL
# Every stage runs even when an earlier one fails; the exit code is non-zero if
# any failed. pytest's exit code 5 (no tests collected) counts as a failure.
# The servers are stopped on exit, whatever happened. Extra arguments go to
# both pytest runs (e.g. `make test PYTEST_ARGS="-x -k admin"`).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export PATH="$VENV/bin:$PATH"
export PYTHONDONTWRITEBYTECODE=1

started=$SECONDS
declare -a summary=()
failed=0

services_dir="$(mktemp -d "${TMPDIR:-/tmp}/agent-platform-test.XXXXXX")"
cleanup() {
    trap - EXIT INT TERM
    bash "$ROOT/scripts/test_services.sh" stop "$services_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stage NAME COMMAND...: run, time and record one stage.
stage() {
    local name="$1" t0=$SECONDS rc
    shift
    say "$name"
    "$@"
    rc=$?
    local verdict="ok"
    if [[ $rc -eq 5 && " $* " == *" pytest "* ]]; then
        verdict="FAILED (pytest collected no tests)"
    elif [[ $rc -ne 0 ]]; then
        verdict="FAILED (exit $rc)"
    fi
    [[ $verdict == ok ]] || failed=1
    summary+=("$(printf '%-40s %5ss  %s' "$name" $((SECONDS - t0)) "$verdict")")
}

t0=$SECONDS
bash "$ROOT/scripts/test_services.sh" start "$services_dir" || exit 1
# shellcheck disable=SC1091
source "$services_dir/env"
summary+=("$(printf '%-40s %5ss  %s' "start PostgreSQL and Redis" $((SECONDS - t0)) ok)")
say "TEST_POSTGRES_URL=$TEST_POSTGRES_URL"
say "TEST_REDIS_URL=$TEST_REDIS_URL"

read -r -a pytest_args <<<"${PYTEST_ARGS:-}"

stage "ruff check ." ruff check .
stage "lint-imports (layer contracts)" lint-imports
stage "pytest (whole suite, SQLite)" env -u DATABASE_URL pytest "${pytest_args[@]}"
stage "pytest -m postgres (PostgreSQL)" env DATABASE_URL="$TEST_POSTGRES_URL" pytest -m postgres "${pytest_args[@]}"

say "Summary ($((SECONDS - started))s in all)"
printf '    %s\n' "${summary[@]}" >&2
exit $failed
