"""Robust linear regression, the one estimator behind every fitted exponent."""

from __future__ import annotations

import math

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


def slope_t(X: np.ndarray, y: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """``|beta_j| / se_j``: how many standard errors each fitted coefficient is away from 0.

    The standard errors are the ordinary least-squares ones, ``sigma² (XᵀX)⁻¹``, with ``sigma`` the
    residuals' root mean square (not a robust scale: the test is meant to be cautious, and an outlier or
    sizes whose times do not line up make a slope less certain). A coefficient within a few standard
    errors of 0 is not told apart from 0 by the data: a slope fitted on a handful of noisy samples over
    a narrow input range."""
    X = np.asarray(X, dtype=float)
    resid = np.asarray(y, dtype=float) - X @ beta
    n, p = X.shape
    if n <= p:
        return np.zeros(p)
    sigma = max(math.sqrt(float(resid @ resid) / (n - p)), 1e-9)
    cov = sigma**2 * np.linalg.pinv(X.T @ X)
    se = np.sqrt(np.maximum(np.diag(cov), 1e-300))
    return np.abs(beta) / se
