#!/usr/bin/env bash
# Makes sure the Debian packages a target needs are installed.
#   scripts/system_deps.sh venv   python3 can create a virtualenv (python3-venv)
#   scripts/system_deps.sh test   redis-server, postgresql and chromium for `make test`
# As root, installs what is missing with apt-get; otherwise says what to install and fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

missing=()

need_venv() {
    python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
}

need_test() {
    command -v redis-server >/dev/null || missing+=(redis-server)
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
    command -v chromium >/dev/null || missing+=(chromium)
}

case "${1:-}" in
    venv) need_venv ;;
    test) need_test ;;
    *) die "usage: $0 venv|test" ;;
esac

[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! is_root; then
    die "missing Debian packages: ${missing[*]}
    install them, then run make again:
        sudo apt-get update && sudo apt-get install -y ${missing[*]}"
fi
command -v apt-get >/dev/null || die "missing packages ${missing[*]}, and apt-get is not available to install them"

say "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
