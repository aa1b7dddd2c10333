#!/usr/bin/env bash
# Creates a git-ignored virtualenv with the pinned packages of a requirements
# file, from PyPI. Without arguments: .venv for the real-client tests written
# in Python (spec/interop/nio: matrix-nio, spec/interop/nio/requirements.txt).
# scripts/synapse-venv.sh passes its own venv, requirements, purpose and an
# import that must work afterwards. Idempotent, and instant when nothing
# changed: <venv>/.myelin-stamp records the Python version and the
# requirements' hash of the last successful install. Called by scripts/test.sh.
#
# Usage: python-venv.sh [VENV REQUIREMENTS PURPOSE [IMPORT_CHECK]]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV=${1:-.venv}
REQUIREMENTS=${2:-spec/interop/nio/requirements.txt}
PURPOSE=${3:-the matrix-nio test}
IMPORT_CHECK=${4:-import nio}
STAMP="$VENV/.myelin-stamp"
ERR="${TMPDIR:-/tmp}/myelin-venv-$(printf '%s' "$ROOT/$VENV" | sha256sum | cut -c1-16)"

if ! command -v python3 >/dev/null 2>&1; then
  echo "myelin: python3 is not on PATH; install Python 3 with venv (Debian: apt-get install python3 python3-venv) for $PURPOSE" >&2
  exit 1
fi

want="python $(python3 -c 'import sys; print(".".join(map(str, sys.version_info[:3])))') requirements $(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
fresh() { [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && "$VENV/bin/python" -c '' 2>/dev/null; }
fresh && exit 0

# Two test runs in one tree must not install into the same venv at once.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$ERR.lock"
  flock 9
  fresh && exit 0
fi

echo "myelin: preparing $VENV ($(grep -m1 -v '^#' "$REQUIREMENTS"))..." >&2
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c '' 2>/dev/null || [ "$(cat "$STAMP" 2>/dev/null | cut -d' ' -f2)" != "$(echo "$want" | cut -d' ' -f2)" ]; then
  if ! python3 -m venv --clear "$VENV" >/dev/null 2>"$ERR.err"; then
    echo "myelin: 'python3 -m venv' failed ($(tail -n1 "$ERR.err")); install the venv module (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
fi
rm -f "$STAMP"
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$REQUIREMENTS" >"$VENV/pip-install.log" 2>&1; then
  echo "myelin: installing $REQUIREMENTS into $VENV failed (full log: $VENV/pip-install.log): $(grep -m1 -E '^ERROR' "$VENV/pip-install.log" || tail -n1 "$VENV/pip-install.log")" >&2
  exit 1
fi
# A broken wheel would otherwise surface later, far from its cause.
if ! "$VENV/bin/python" -c "$IMPORT_CHECK" >"$VENV/import-check.log" 2>&1; then
  echo "myelin: '$IMPORT_CHECK' fails in $VENV (log: $VENV/import-check.log): $(tail -n1 "$VENV/import-check.log")" >&2
  exit 1
fi
echo "$want" >"$STAMP"
