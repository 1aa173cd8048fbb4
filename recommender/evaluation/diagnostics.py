"""Where an off-policy estimate cannot be trusted: importance weights per position, support, logged propensities.

Under the logging policy every importance weight averages exactly 1, at every slate position, as long as
the target only picks what the logging policy could have picked. So (docs/evaluation.md):
- a mean weight whose 95% interval excludes 1 and that is more than MEAN_WEIGHT_TOLERANCE away from it says
  the weights cannot be trusted: rare huge weights not yet observed (their product over positions under a
  deterministic target), or propensities that do not describe what the logging policy did;
- target mass on candidates the logging policy gave probability 0 is never logged: every estimator misses it;
- a logged propensity that differs from the logging policy replayed on the statistics it decided from says
  the logs do not describe the decisions (e.g. statistics read from a stale cache).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from recommender.evaluation.estimators import Estimate, effective_sample_size, ratio_estimate

# Below this effective sample size the normal intervals are not trustworthy.
LOW_ESS = 100
MEAN_WEIGHT_TOLERANCE = 0.1
# Target probability on arms the logging policy could not pick, per decision on average, worth a warning.
UNSUPPORTED_TOLERANCE = 0.01
# A replayed propensity this far from the logged one (absolute or relative, whichever is larger) disagrees;
# looser than float noise because Thompson's replay integrates on a coarser grid than serving.
PROPENSITY_ATOL, PROPENSITY_RTOL = 0.01, 0.05


@dataclass(frozen=True)
class PositionDiagnostics:
    """The importance weights of one slate position (0-based), or of every evaluated row (`position` None)."""

    position: int | None
    rows: int
    mean_weight: Estimate
    ess: float
    unsupported: float  # the target's mean probability on arms the logging policy could not pick (NaN: unknown)
    mismatched: int  # decisions whose logged propensity the replayed logging policy does not reproduce

    @property
    def weight_off(self) -> bool:
        mean = self.mean_weight
        outside = not (mean.low <= 1.0 <= mean.high) if not math.isnan(mean.low) else True
        return outside and abs(mean.value - 1.0) > MEAN_WEIGHT_TOLERANCE

    def as_dict(self) -> dict[str, object]:
        return {
            "position": self.position,
            "rows": self.rows,
            "mean_weight": self.mean_weight.as_dict(),
            "ess": self.ess,
            "unsupported": None if math.isnan(self.unsupported) else self.unsupported,
            "mismatched_propensities": self.mismatched,
        }


def weight_diagnostics(
    weight: np.ndarray,
    rank: np.ndarray,
    unsupported: np.ndarray,
    mismatched: np.ndarray,
    clusters: np.ndarray | None,
) -> list[PositionDiagnostics]:
    """Per evaluated position, then overall (last): mean weight with its interval, ESS, support, mismatches."""

    def one(position: int | None, mask: np.ndarray, groups: np.ndarray | None) -> PositionDiagnostics:
        share = unsupported[mask]
        return PositionDiagnostics(
            position=position,
            rows=int(mask.sum()),
            mean_weight=ratio_estimate(weight[mask], clusters=groups, weights=weight[mask]),
            ess=effective_sample_size(weight[mask]),
            unsupported=float(np.nanmean(share)) if np.isfinite(share).any() else math.nan,
            mismatched=int(mismatched[mask].sum()),
        )

    positions = [one(int(k), rank == k, None) for k in np.unique(rank)]
    if len(positions) == 1:
        return positions
    # Overall, the rows of one request are not independent: the interval is over requests.
    _, groups = np.unique(clusters, return_inverse=True) if clusters is not None else (None, None)
    return [*positions, one(None, np.ones(len(weight), dtype=bool), groups)]


def propensity_mismatch(logged: np.ndarray, replayed: np.ndarray) -> np.ndarray:
    """True where the replayed logging propensity (NaN: the logging policy is unknown) disagrees with the log."""
    tolerance = np.maximum(PROPENSITY_ATOL, PROPENSITY_RTOL * logged)
    return np.isfinite(replayed) & (np.abs(replayed - logged) > tolerance)


def warnings_for(ess: float, diagnostics: list[PositionDiagnostics]) -> list[str]:
    """Why the estimates should not be trusted, one sentence each (empty: nothing found)."""
    found = []
    if ess < LOW_ESS:
        found.append(
            f"the effective sample size ({ess:.1f}) is below {LOW_ESS}: the target rarely picks what was logged, "
            "so these intervals are not reliable."
        )
    for d in diagnostics:
        where = "overall" if d.position is None else f"at position {d.position + 1}"
        if d.position and d.ess < LOW_ESS:  # later positions multiply ratios: their ESS can collapse alone
            found.append(
                f"the effective sample size {where} ({d.ess:.1f}) is below {LOW_ESS}: its intervals are not reliable."
            )
        if d.weight_off:
            found.append(
                f"the mean importance weight {where} is {d.mean_weight.value:.3f} "
                f"[{d.mean_weight.low:.3f}, {d.mean_weight.high:.3f}], not 1: the weights are dominated by rare "
                "large values not yet seen (or the propensities are wrong), so IPS and DR are biased; "
                "prefer --positions first."
            )
        if d.unsupported > UNSUPPORTED_TOLERANCE:
            found.append(
                f"the target puts {d.unsupported:.1%} of its picks {where} on candidates the logging policy could "
                "not pick: those picks are never in the logs, so every estimate misses them."
            )
        if d.mismatched and d.position is not None:
            found.append(
                f"{d.mismatched} of {d.rows} logged propensities {where} differ from the logging policy replayed "
                "on the statistics it decided from: the logs do not describe its decisions."
            )
    return found
