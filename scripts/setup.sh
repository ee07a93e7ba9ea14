#!/usr/bin/env bash
# Create the project virtualenv (.venv, Python 3.11) and install plansim into it in editable mode.
#
# Idempotent: an existing .venv is reused; pip only installs what is missing or changed.
# Quiet on success, loud on failure (set -e, pip's own error output is kept).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '[setup] %s\n' "$*" >&2; }

if [[ ! -x .venv/bin/python ]]; then
  PY="${PYTHON:-}"
  if [[ -z "$PY" ]]; then
    for cand in python3.11 python3; do
      if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        PY="$cand"; break
      fi
    done
  fi
  if [[ -z "$PY" ]]; then
    log "error: Python 3.11 not found (set PYTHON=/path/to/python3.11)"; exit 1
  fi
  log "creating .venv with $PY"
  "$PY" -m venv .venv
fi

if ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  log "error: .venv is not Python 3.11 ($(.venv/bin/python -V)); remove it and rerun"; exit 1
fi

# `bash scripts/setup.sh` installs everything (extra "all": runtime, dashboard, sweeps, notebooks, tests);
# `bash scripts/setup.sh core` only what simulations need, which is much quicker on a fresh machine.
if [[ "${1:-all}" == core ]]; then
  TARGET='.'
else
  TARGET='.[all]'
fi
# Skip pip entirely when pyproject.toml has not changed since the last successful install of at least
# as much ("all" covers "core").
STAMP=.venv/.plansim-setup-stamp
WANT="$TARGET $(sha256sum pyproject.toml | cut -d' ' -f1)"
HAVE="$(cat "$STAMP" 2>/dev/null || true)"
if [[ "$HAVE" == "$WANT" || ( "$TARGET" == . && "$HAVE" == ".[all] ${WANT#. }" ) ]] \
   && .venv/bin/python -c 'import sim, runtime' 2>/dev/null; then
  exit 0
fi
log "pip install -e '$TARGET'"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$TARGET"
printf '%s' "$WANT" >"$STAMP"
