"""Estimate a target policy's mean reward per served tip from logged slates (docs/evaluation.md).

Decisions (docs/adr/0051, 0052, 0053):
- Positions: `first` (default) evaluates the first tip of every slate, whose logged propensity is the
  plain probability of the pick; `all` evaluates every position with per-decision weights, the product of
  the ratios of the position and every earlier one (unbiased for the whole slate when a tip's reward does
  not depend on the tips shown beside it, at the price of much larger weights).
- Statistics: `replay` (default) gives the target, at each logged request, the arm estimates serving had at
  that moment (rewards finalized before it, per user shrunk toward global); `frozen` gives it the estimates
  as they were when the period began (`frozen_at`, i.e. --since), held fixed: a policy that stops learning.
  Never the estimates at the end of the period: they contain the very rewards being evaluated, and a policy
  fitted to them looks better than it is (measured: intervals then miss the truth most of the time).
- Doubly robust uses a per-arm mean reward model, cross-fitted on two halves of the requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from recommender.evaluation.diagnostics import (
    PositionDiagnostics,
    propensity_mismatch,
    warnings_for,
    weight_diagnostics,
)
from recommender.evaluation.estimators import Estimate, per_arm_means, ratio_estimate
from recommender.evaluation.logs import LoggedSlates
from recommender.evaluation.targets import RewardEvents, arm_probabilities, replay_stats
from recommender.policies import Policy
from recommender.policies.base import PRIOR_MEAN

POSITIONS = ("first", "all")
ROW_BATCH = 65_536  # decisions per batch of (decisions x arms) matrices: bounds memory on a million tips
STATS = ("replay", "frozen")


class NothingToEvaluate(ValueError):
    """No usable logged tip in the selection (empty period, or only legacy or pending rows)."""

    def __init__(self, message: str, *, skipped: dict[str, int] | None = None) -> None:
        super().__init__(message)
        self.skipped = skipped or {}


@dataclass(frozen=True)
class Segment:
    """The target's share of picks and mean reward among tips with one value of the `--by` column."""

    value: Any
    rows: int
    logged: Estimate
    share: Estimate
    mean_reward: Estimate

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "rows": self.rows,
            "logged": self.logged.as_dict(),
            "share": self.share.as_dict(),
            "mean_reward": self.mean_reward.as_dict(),
        }


@dataclass(frozen=True)
class Evaluation:
    """Everything `evaluate_policy` prints: the estimates and what went into them."""

    policy: str
    params: dict[str, Any]
    positions: str
    stats: str
    requests: int
    rows: int
    skipped: dict[str, int]
    logging_policies: dict[str, int]
    logged: Estimate
    ips: Estimate
    snips: Estimate
    dr: Estimate
    by: str | None = None
    segments: list[Segment] = field(default_factory=list)
    diagnostics: list[PositionDiagnostics] = field(default_factory=list)
    pending_closes_at: datetime | None = None  # when the earliest skipped pending tip's window closes
    logged_estimates: int = 0  # requests whose target decided from the estimates the request logged

    @property
    def warnings(self) -> list[str]:
        """Why the estimates cannot be trusted (docs/evaluation.md); empty when no check failed."""
        return warnings_for(self.ips.ess, self.diagnostics)

    @property
    def reliable(self) -> bool:
        """False when any check failed: too few effective samples, weights not averaging 1, missing support."""
        return not self.warnings

    def as_dict(self) -> dict[str, Any]:
        return {
            "reliable": self.reliable,
            "warnings": self.warnings,
            "diagnostics": [d.as_dict() for d in self.diagnostics],
            "policy": self.policy,
            "params": self.params,
            "positions": self.positions,
            "stats": self.stats,
            "requests": self.requests,
            "rows": self.rows,
            "skipped": self.skipped,
            "pending_closes_at": self.pending_closes_at,
            "logged_estimates": self.logged_estimates,
            "logging_policies": self.logging_policies,
            "estimates": {name: getattr(self, name).as_dict() for name in ("logged", "ips", "snips", "dr")},
            "by": self.by,
            "segments": [segment.as_dict() for segment in self.segments],
        }


def _rank_in_request(row_request: np.ndarray) -> np.ndarray:
    """0 for the first row of each request, 1 for the next, ... (rows are grouped by request)."""
    starts = np.r_[True, row_request[1:] != row_request[:-1]]
    first_index = np.maximum.accumulate(np.where(starts, np.arange(len(row_request)), 0))
    return np.arange(len(row_request)) - first_index


def _left_before(slates: LoggedSlates, n_arms: int, rows: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """(len(rows), A): candidates of each arm still available when each of `rows` was picked.

    Only the evaluated rows get a row of this matrix; earlier picks are taken away one slate rank at a time.
    """
    left = np.zeros((len(rows), n_arms))
    counts = slates.candidate_counts
    left[:, : counts.shape[1]] = counts[slates.row_request[rows]]
    for back in range(1, int(rank[rows].max(initial=0)) + 1):
        later = np.flatnonzero(rank[rows] >= back)
        np.subtract.at(left, (later, slates.row_arm[rows[later] - back]), 1.0)
    if len(slates.drop_request) and len(rows):
        # A candidate left out of a position (a task the slate already had) was not there to be picked.
        key = slates.row_request[rows].astype(np.int64) * _POSITIONS + slates.row_position[rows]
        wanted = slates.drop_request * _POSITIONS + slates.drop_position
        at = np.minimum(np.searchsorted(key, wanted), len(key) - 1)
        found = key[at] == wanted
        np.subtract.at(left, (at[found], slates.drop_arm[found]), 1.0)
    return left


_POSITIONS = 1 << 15  # above any slate position (positions are int16): request and position in one key


def _cumulative(rho: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Per-decision weights: the product of this row's ratio and those of the earlier rows of its request."""
    weights = rho.copy()
    for k in range(1, int(rank.max(initial=0)) + 1):
        at = np.flatnonzero(rank == k)
        weights[at] = weights[at - 1] * rho[at]
    return weights


def _decided_from(
    slates: LoggedSlates, events: RewardEvents, n_arms: int, shrinkage: float
) -> tuple[np.ndarray, np.ndarray]:
    """(R, n_arms) count and reward sum each request was decided from: the estimates it logged, else replayed.

    The logged ones are what the logging policy really read (a cached, possibly stale copy included), so
    its own propensities are reproduced by construction; replay from the rewards finalized before the
    request is the fallback for requests logged before the estimates were (and is skipped when none is).
    """
    mask = slates.has_estimates
    if mask.all():
        count, reward_sum = np.zeros((slates.n_requests, n_arms)), np.zeros((slates.n_requests, n_arms))
    else:
        count, reward_sum = replay_stats(events, slates.request_time, slates.request_user, n_arms, shrinkage)
    width = slates.logged_count.shape[1]
    count[mask], reward_sum[mask] = 0.0, 0.0
    count[mask, :width], reward_sum[mask, :width] = slates.logged_count[mask], slates.logged_sum[mask]
    return count, reward_sum


def evaluate(
    *,
    slates: LoggedSlates,
    events: RewardEvents,
    policy: Policy,
    n_arms: int,
    positions: str = "first",
    stats: str = "replay",
    shrinkage: float = 0.0,
    by: str | None = None,
    frozen_at: float = -np.inf,
    logging: Mapping[str, Policy] | None = None,
) -> Evaluation:
    """Return the IPS, self-normalised IPS and doubly robust estimates of `policy` on `slates`.

    `n_arms` covers every arm index in `slates` and `events`; `shrinkage` is TIPS_SHRINKAGE_STRENGTH;
    `frozen_at` (a timestamp) is when `frozen` statistics are taken. `logging` maps logging policy names to
    the policies, replayed for the diagnostics (support, logged propensities); names not in it go unchecked.
    Raises NothingToEvaluate when no row is usable.
    """
    if positions not in POSITIONS or stats not in STATS:
        raise ValueError(f"positions must be one of {POSITIONS} and stats one of {STATS}")
    if slates.n_rows == 0:
        raise NothingToEvaluate("No usable logged tips in this selection.")
    rank = _rank_in_request(slates.row_request)
    keep = np.ones(slates.n_rows, dtype=bool) if positions == "all" else rank == 0
    rows = np.flatnonzero(keep)
    request = slates.row_request[rows]
    if stats == "replay":
        count, reward_sum = _decided_from(slates, events, n_arms, shrinkage)
    else:
        frozen = np.full(slates.n_requests, frozen_at)
        count, reward_sum = replay_stats(events, frozen, slates.request_user, n_arms, shrinkage)
    # The logging policy is replayed on what it decided from, whatever the target sees.
    seen = (count, reward_sum)
    if logging and stats != "replay":
        seen = _decided_from(slates, events, n_arms, shrinkage)
    arm = slates.row_arm[rows]
    # Doubly robust's reward model: per-arm means, each half of the requests predicted by the other half.
    model = per_arm_means(slates.row_arm, slates.row_reward, slates.row_request % 2, n_arms, PRIOR_MEAN)
    fold = request % 2
    target, direct = np.empty(len(rows)), np.empty(len(rows))
    unsupported, replayed = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    for start in range(0, len(rows), ROW_BATCH):  # (rows x arms) matrices exist for one batch at a time
        part = slice(start, start + ROW_BATCH)
        left = _left_before(slates, n_arms, rows[part], rank)
        probabilities = arm_probabilities(policy, left, count[request[part]], reward_sum[request[part]])
        picked = np.arange(len(left)), arm[part]
        target[part] = probabilities[picked] / left[picked]
        direct[part] = np.einsum("ra,ra->r", probabilities, model[fold[part]])
        for name, logger in (logging or {}).items():
            mine = np.flatnonzero(slates.request_policy[request[part]] == name)
            if not len(mine):
                continue
            at, pick = request[part][mine], arm[part][mine]
            chances = arm_probabilities(logger, left[mine], seen[0][at], seen[1][at])
            unsupported[start + mine] = np.where(chances <= 0.0, probabilities[mine], 0.0).sum(axis=1)
            replayed[start + mine] = chances[np.arange(len(mine)), pick] / left[mine, pick]
    rho = target / slates.row_propensity[rows]
    weight = _cumulative(rho, rank[rows]) if positions == "all" else rho
    # The product of the earlier positions' ratios (1 at the first position): rows are consecutive per request.
    weight_before = np.where(rank[rows] == 0, 1.0, np.r_[1.0, weight[:-1]]) if positions == "all" else np.ones_like(rho)
    reward = slates.row_reward[rows]
    # Doubly robust: the model's value of the target's pick distribution, corrected by the weighted residual.
    doubly_robust = weight_before * (direct + rho * (reward - model[fold, arm]))
    clusters = request if positions == "all" else None
    segments = _segments(slates, rows, weight, reward, clusters) if by else []
    mismatched = propensity_mismatch(slates.row_propensity[rows], replayed)
    diagnostics = weight_diagnostics(weight, rank[rows], unsupported, mismatched, clusters)
    return Evaluation(
        policy=policy.name,
        params=policy.params(),
        positions=positions,
        stats=stats,
        requests=slates.n_requests,
        rows=len(rows),
        skipped=dict(slates.skipped),
        logging_policies=dict(slates.logging_policies),
        logged=ratio_estimate(reward, clusters=clusters),
        ips=ratio_estimate(weight * reward, clusters=clusters, weights=weight),
        snips=ratio_estimate(weight * reward, weight, clusters=clusters, weights=weight),
        dr=ratio_estimate(doubly_robust, clusters=clusters, weights=weight),
        by=by,
        segments=segments,
        diagnostics=diagnostics,
        logged_estimates=int(slates.has_estimates.sum()) if stats == "replay" else 0,
    )


def _segments(
    slates: LoggedSlates, rows: np.ndarray, weight: np.ndarray, reward: np.ndarray, clusters: np.ndarray | None
) -> list[Segment]:
    """Per value of the logged tip's column: the target's share of picks (IPS) and mean reward (self-normalised)."""
    labels = [slates.row_segment[i] for i in rows]
    values = sorted(set(labels), key=lambda v: (v is None, str(v)))
    codes = {v: i for i, v in enumerate(values)}
    code = np.fromiter((codes[v] for v in labels), dtype=np.int64, count=len(labels))
    result = []
    for value, i in codes.items():
        inside = (code == i).astype(float)
        result.append(
            Segment(
                value=value,
                rows=int(inside.sum()),
                logged=ratio_estimate(reward * inside, inside, clusters=clusters),
                share=ratio_estimate(weight * inside, clusters=clusters, weights=weight[inside > 0]),
                mean_reward=ratio_estimate(
                    weight * reward * inside, weight * inside, clusters=clusters, weights=weight[inside > 0]
                ),
            )
        )
    return result
