"""Plan versus real: compare a planned (simulated) run with a real one, and report it as HTML."""

from sim.compare.plan_vs_real import Comparison, RunData, compare_runs, critical_path, group_runs, pct_error

__all__ = ["Comparison", "RunData", "compare_runs", "critical_path", "group_runs", "pct_error"]
