"""The uniform random policy: the baseline, and the ideal logging policy for offline evaluation."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from generation.candidates import TipCandidate
from recommender.policies.base import ArmEstimate, Choice, slate_offers, uniform_share


@dataclass(frozen=True)
class Uniform:
    """Every remaining candidate is equally likely at every slate position."""

    name: str = "uniform"

    def params(self) -> dict[str, Any]:
        return {}

    def arm_probabilities(self, left: np.ndarray, count: np.ndarray, reward_sum: np.ndarray) -> np.ndarray:
        return uniform_share(left)

    def choose(
        self,
        candidates: Sequence[TipCandidate],
        stats: Mapping[str, ArmEstimate],
        rng: np.random.Generator,
        k: int,
    ) -> list[Choice]:
        remaining, picked = list(range(len(candidates))), []
        chosen: list[Choice] = []
        while remaining and len(chosen) < k:
            pick = remaining[int(rng.integers(len(remaining)))]
            chosen.append(Choice(candidates[pick], 0.0, 1.0 / len(remaining)))
            picked.append(pick)
            remaining = slate_offers(candidates, picked)
        return chosen
