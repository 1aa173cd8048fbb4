"""Off-policy estimators over importance weights: IPS, self-normalised IPS, doubly robust, each with a 95% CI.

Every estimator here is a ratio of sums, sum(numerator) / sum(denominator), over units that may be grouped
in clusters (the tips of one slate are not independent). The interval is the normal one, with the delta
method's standard error computed on cluster totals, which is the usual sandwich estimator for ratios:

    theta = sum_c N_c / sum_c D_c,    se = sqrt(var_c(N_c - theta * D_c) / C) / mean_c(D_c)

IPS is the ratio with D = 1 per unit, self-normalised IPS the ratio with D = w, so one function serves all.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A value with its 95% interval, standard error, effective sample size and number of units."""

    value: float
    low: float
    high: float
    std_error: float
    ess: float
    n: int

    def contains(self, value: float) -> bool:
        """Return True when `value` lies inside the 95% interval."""
        return self.low <= value <= self.high

    def as_dict(self) -> dict[str, float | int | None]:
        """Return the fields with NaN as None (valid JSON)."""
        return {key: (None if isinstance(v, float) and math.isnan(v) else v) for key, v in asdict(self).items()}


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2: how many unweighted samples the weights are worth."""
    weights = np.asarray(weights, dtype=float)
    squares = float(np.dot(weights, weights))
    return float(weights.sum()) ** 2 / squares if squares > 0 else 0.0


def ratio_estimate(
    numerator: np.ndarray,
    denominator: np.ndarray | float = 1.0,
    *,
    clusters: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> Estimate:
    """Return sum(numerator) / sum(denominator) with a cluster-robust 95% interval (see the module docstring).

    `clusters` maps each unit to a cluster id (0..C-1); None makes every unit its own cluster. `weights`
    are the importance weights behind the estimate, for the effective sample size (units count 1 each
    when None).
    """
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.broadcast_to(np.asarray(denominator, dtype=float), numerator.shape)
    n = len(numerator)
    ess = effective_sample_size(weights) if weights is not None else float(n)
    if clusters is not None and n:
        numerator = np.bincount(clusters, weights=numerator)
        denominator = np.bincount(clusters, weights=denominator)
    total = float(denominator.sum())
    if n == 0 or total <= 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, ess, n)
    value = float(numerator.sum()) / total
    units = len(numerator)
    if units < 2:
        return Estimate(value, math.nan, math.nan, math.nan, ess, n)
    residual = numerator - value * denominator
    std_error = math.sqrt(float(residual.var(ddof=1)) / units) / (total / units)
    return Estimate(value, value - Z95 * std_error, value + Z95 * std_error, std_error, ess, n)


def per_arm_means(arms: np.ndarray, rewards: np.ndarray, folds: np.ndarray, n_arms: int, prior: float) -> np.ndarray:
    """Return a (2, n_arms) table: row f holds each arm's mean reward fitted on fold 1 - f (cross-fitting).

    Arms without data in the other fold fall back to that fold's overall mean (or `prior` if it is empty),
    so the reward model never sees the reward it is used to correct.
    """
    table = np.empty((2, n_arms))
    for fold in (0, 1):
        train = folds != fold
        counts = np.bincount(arms[train], minlength=n_arms)
        sums = np.bincount(arms[train], weights=rewards[train], minlength=n_arms)
        fallback = float(rewards[train].mean()) if train.any() else prior
        with np.errstate(invalid="ignore", divide="ignore"):
            table[fold] = np.where(counts > 0, sums / np.maximum(counts, 1), fallback)
    return table
