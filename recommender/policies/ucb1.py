"""UCB1: deterministic optimism over arm means; propensity 1 for the best candidate, ties split uniformly."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from generation.candidates import TipCandidate
from recommender.policies.base import ArmEstimate, Choice, best_share, greedy_slate


def ucb_indices(count: np.ndarray, reward_sum: np.ndarray, total: np.ndarray | float, exploration: float) -> np.ndarray:
    """Return mean + sqrt(exploration * ln(total) / count) elementwise; +inf for arms never rewarded.

    `total` is the number of rewards over all arms (broadcast against `count`); below 1 it counts as 1.
    """
    count = np.asarray(count, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        bonus = np.sqrt(exploration * np.log(np.maximum(total, 1.0)) / count)
        index = np.asarray(reward_sum, dtype=float) / count + bonus
    return np.where(count > 0, index, np.inf)


@dataclass(frozen=True)
class UCB1:
    """At each slate position: the remaining candidate whose arm has the highest upper confidence bound.

    `total` in the bonus is the sum of counts over every arm in `stats` (not only the offered ones), so the
    bonus shrinks as the system as a whole learns. Arms without rewards are tried first.
    """

    exploration: float = 2.0
    name: str = "ucb1"

    def __post_init__(self) -> None:
        if self.exploration < 0:
            raise ValueError(f"exploration must be >= 0, not {self.exploration}")

    def params(self) -> dict[str, Any]:
        return {"exploration": self.exploration}

    def scores(self, candidates: Sequence[TipCandidate], stats: Mapping[str, ArmEstimate]) -> np.ndarray:
        """Return each candidate's upper confidence bound (inf for arms never rewarded)."""
        empty = ArmEstimate()
        total = math.fsum(estimate.count for estimate in stats.values())
        counts = np.array([stats.get(c.arm, empty).count for c in candidates], dtype=float)
        sums = np.array([stats.get(c.arm, empty).reward_sum for c in candidates], dtype=float)
        return ucb_indices(counts, sums, total, self.exploration)

    def arm_probabilities(self, left: np.ndarray, count: np.ndarray, reward_sum: np.ndarray) -> np.ndarray:
        total = count.sum(axis=1, keepdims=True)
        return best_share(ucb_indices(count, reward_sum, total, self.exploration), left)

    def choose(
        self,
        candidates: Sequence[TipCandidate],
        stats: Mapping[str, ArmEstimate],
        rng: np.random.Generator,
        k: int,
    ) -> list[Choice]:
        # Deterministic but for ties: the argmax has propensity 1, shared evenly when several tie.
        return greedy_slate(candidates, self.scores(candidates, stats), rng, k)
