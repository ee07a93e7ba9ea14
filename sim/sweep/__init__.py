"""Sweeps: grids of what-if simulations on a local process pool or a Dask cluster, tidy results, plots."""

from sim.sweep.grid import SweepGroup, count_points, expand_grid
from sim.sweep.runner import COLUMNS, run_group, run_sweep

__all__ = ["COLUMNS", "SweepGroup", "count_points", "expand_grid", "run_group", "run_sweep"]
