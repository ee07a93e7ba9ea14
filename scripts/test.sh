#!/usr/bin/env bash
# The project's test command: prepare the environment, the services and the worker image, then run pytest.
#
#   bash scripts/test.sh [pytest args...]
#
# Exit code is pytest's, except that "no tests collected" (5) is reported as a failure too.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
bash scripts/services.sh
.venv/bin/python -m runtime.image build

set +e
.venv/bin/python -m pytest -q "$@"
rc=$?
set -e
if [[ $rc == 5 ]]; then
  echo "[test] error: pytest collected no tests" >&2
  exit 1
fi
exit $rc
