"""What the A/B benchmarks of a real-run optimization share (``bench_streaming``, ``bench_inline_plan``).

Each runs one workflow for real with and without an optimization, alternating, on one launcher with
pre-warmed workers, and compares with the simulator's prediction of both plans. The command line is the
same apart from the size of the workflow.
"""

from __future__ import annotations

import argparse


def ab_args(doc: str, size_flag: str, size_default: int, size_help: str) -> argparse.Namespace:
    """Parse ``SIZE --repeat N --launcher process|docker`` for a benchmark whose docstring is ``doc``."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument(size_flag, type=int, default=size_default, help=size_help)
    ap.add_argument("--repeat", type=int, default=3, help="measured runs per mode (after one warm-up round)")
    ap.add_argument("--launcher", default="process", choices=["process", "docker"])
    return ap.parse_args()
