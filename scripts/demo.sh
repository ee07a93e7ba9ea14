#!/usr/bin/env bash
# The main job on embedded defaults: set up .venv, then a what-if comparison of the three reference
# planners on a known workflow type. Extra arguments go to `plansim compare`.
#
#   bash scripts/demo.sh                      # tree_reduction:leaves=64, uniform vs non-uniform vs wukong
#   bash scripts/demo.sh gemm --sla p95       # another workflow, another SLA
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh core
if [[ $# -eq 0 ]]; then
  set -- tree_reduction:leaves=64 --planners uniform,non-uniform,wukong
fi
exec .venv/bin/plansim compare "$@"
