"""The fit report's plots: readable whatever the data, every axis with its unit."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.fit import ModelRow
from calibration.report import _figure
from sim.models.performance import FitInfo

pytest.importorskip("matplotlib")


def _row(model: str, observed: np.ndarray, predicted: np.ndarray) -> ModelRow:
    return ModelRow(model, {}, {}, FitInfo(samples=observed.size, mape=0.0), observed, predicted)


def test_near_identical_samples_get_a_readable_range() -> None:
    """A simulated run's records give every task of a function the same time, and the fit predicts it to
    the last digits: the log axes then spanned 1e-13 of a value and drew garbled frames with no tick
    (seen: exec[multiply_chunks] of `plansim simulate gemm --metrics-out` calibrated)."""
    obs = np.full(16, 2939.31377065764)
    fig = _figure([_row("exec[f]", obs, obs * (1 + 1e-15))])
    ax = fig.axes[0]
    for lo, hi in (ax.get_xlim(), ax.get_ylim()):
        assert lo < 2939.3 < hi
        assert hi / lo >= 2, (lo, hi)
    assert ax.get_xlim() == ax.get_ylim()  # the identity line is the diagonal


@pytest.mark.parametrize(("model", "unit"), [("exec[f]", "ms"), ("output[f]", "bytes"), ("transfer", "ms")])
def test_axes_name_their_unit(model: str, unit: str) -> None:
    obs = np.array([100.0, 200.0, 400.0])
    ax1, ax2 = _figure([_row(model, obs, obs * 1.1)]).axes[:2]
    assert f"({unit})" in ax1.get_xlabel() and f"({unit})" in ax1.get_ylabel()
    assert ax2.get_ylabel()  # the histogram's counts are named too
