"""Epsilon-greedy over arm means, picking a slate without replacement with exact propensities."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from generation.candidates import TipCandidate
from recommender.policies.base import PRIOR_MEAN, ArmEstimate, Choice, best_share, greedy_slate, uniform_share


@dataclass(frozen=True)
class EpsilonGreedy:
    """At each slate position: with probability epsilon a uniform pick, else a uniform pick among the best."""

    epsilon: float = 0.1
    prior_mean: float = PRIOR_MEAN
    name: str = "egreedy"

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], not {self.epsilon}")

    def params(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "prior_mean": self.prior_mean}

    def scores(self, candidates: Sequence[TipCandidate], stats: Mapping[str, ArmEstimate]) -> np.ndarray:
        """Return each candidate's estimated mean reward."""
        empty = ArmEstimate()
        return np.array([stats.get(c.arm, empty).mean(self.prior_mean) for c in candidates], dtype=float)

    def arm_probabilities(self, left: np.ndarray, count: np.ndarray, reward_sum: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(count > 0, reward_sum / count, self.prior_mean)
        return self.epsilon * uniform_share(left) + (1.0 - self.epsilon) * best_share(means, left)

    def choose(
        self,
        candidates: Sequence[TipCandidate],
        stats: Mapping[str, ArmEstimate],
        rng: np.random.Generator,
        k: int,
    ) -> list[Choice]:
        return greedy_slate(candidates, self.scores(candidates, stats), rng, k, self.epsilon)
