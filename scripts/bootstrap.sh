#!/usr/bin/env bash
# Creates the virtualenv (.venv, or $VENV) and installs the project with its
# test extra from PyPI. The Makefile calls it only when pyproject.toml is newer
# than the stamp file, so a second run reuses the virtualenv as it is.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

STAMP="$VENV/.installed"

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "Python 3.11 or newer is needed as python3; found $(python3 --version 2>&1)"

# A virtualenv whose interpreter no longer runs (moved, or Python upgraded) is rebuilt.
if [[ -d "$VENV" ]] && ! "$VENV/bin/python" -c '' 2>/dev/null; then
    say "Removing a broken virtualenv at $VENV"
    rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    bash "$ROOT/scripts/system_deps.sh" venv
    say "Creating the virtualenv $VENV"
    python3 -m venv "$VENV"
fi

say "Installing the project's dependencies and its test extra into $VENV from PyPI (a minute or two the first time)"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# -qq: errors only. pyproject.toml has `packages = []`, so this installs the
# dependencies and an empty distribution; the code runs from the work tree.
"$VENV/bin/python" -m pip install -qq --upgrade pip
"$VENV/bin/python" -m pip install -qq ".[test]"
# By-products of building that empty distribution, of no further use.
rm -rf "$ROOT/build" "$ROOT"/*.egg-info
touch "$STAMP"
say "Virtualenv ready: $VENV"
