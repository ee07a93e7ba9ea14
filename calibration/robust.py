"""Robust linear regression, the one estimator behind every fitted exponent."""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares


def robust_linear(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Coefficients of ``y ~ X`` by soft-L1 robust least squares (outliers down-weighted): the loss's
    scale is the median absolute deviation of a first ordinary fit's residuals."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    beta0, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta0
    scale = max(1.4826 * float(np.median(np.abs(resid - np.median(resid)))), 1e-3)
    if X.shape[0] <= X.shape[1]:
        return beta0
    res = least_squares(lambda b: X @ b - y, beta0, loss="soft_l1", f_scale=scale, method="trf")
    return res.x
