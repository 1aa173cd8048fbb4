"""The policy interface: choose k of n candidates, with the exact propensity of every pick."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from generation.candidates import TipCandidate

# An arm nobody has rewarded yet is scored as this mean: neutral, so new arms still get picked.
PRIOR_MEAN = 0.5


@dataclass(frozen=True, slots=True)
class ArmEstimate:
    """What is known about an arm: how many final rewards, and their sum (count may be fractional)."""

    count: float = 0.0
    reward_sum: float = 0.0

    def mean(self, prior: float = PRIOR_MEAN) -> float:
        """Return the mean reward, or `prior` before any reward."""
        return self.reward_sum / self.count if self.count > 0 else prior


@dataclass(frozen=True, slots=True)
class Choice:
    """A pick: the candidate, its score, and the probability the policy picked it at this position."""

    candidate: TipCandidate
    score: float
    propensity: float


class Policy(Protocol):
    name: str

    def params(self) -> dict[str, Any]:
        """Return the parameters logged with every request this policy serves."""
        ...

    def choose(
        self,
        candidates: Sequence[TipCandidate],
        stats: Mapping[str, ArmEstimate],
        rng: np.random.Generator,
        k: int,
    ) -> list[Choice]:
        """Return up to k distinct candidates in slate order, each with score and exact propensity."""
        ...


# One served slate as a learner reads it: candidates, the stats it was served with, the picks, their rewards.
ServedSlate = tuple[Sequence[TipCandidate], Mapping[str, ArmEstimate], Sequence[Choice], Sequence[float]]


@runtime_checkable
class Learner(Protocol):
    """A policy that holds a model of its own and learns from served slates' final rewards, a window at a time."""

    def learn_window(self, slates: Sequence[ServedSlate]) -> None:
        """Learn from the slates finalized together (a trainer run's window; a simulated round)."""
        ...


@runtime_checkable
class ArmPolicy(Protocol):
    """A policy that treats every candidate of one arm alike, so offline evaluation can replay it per arm."""

    name: str

    def arm_probabilities(self, left: np.ndarray, count: np.ndarray, reward_sum: np.ndarray) -> np.ndarray:
        """(n, A): the probability of picking a candidate of each arm at n decisions (docs in targets.py)."""
        ...


def uniform_share(left: np.ndarray) -> np.ndarray:
    """Arm probabilities of a uniform pick among the remaining candidates (`left[i, a]` of arm a at decision i)."""
    return left / left.sum(axis=1, keepdims=True)


def best_share(index: np.ndarray, left: np.ndarray) -> np.ndarray:
    """Arm probabilities of a uniform pick among the remaining candidates whose arm has the top index."""
    masked = np.where(left > 0, index, -np.inf)
    best = (masked == masked.max(axis=1, keepdims=True)) & (left > 0)
    tied = np.where(best, left, 0)
    return tied / tied.sum(axis=1, keepdims=True)


def slate_offers(candidates: Sequence[TipCandidate], picked: Sequence[int]) -> list[int]:
    """The candidates offered at the next slate position after `picked`: those not picked yet, less any about a
    task the slate already has while others are left (a slate holds "Do it now" or "Break it down" for a task)."""
    taken = set(picked)
    unpicked = [i for i in range(len(candidates)) if i not in taken]
    tasks = {task for i in picked for task in candidates[i].task_ids}
    fresh = [i for i in unpicked if tasks.isdisjoint(candidates[i].task_ids)] if tasks else unpicked
    return fresh or unpicked


def not_offered(candidates: Sequence[TipCandidate], picks: Sequence[int]) -> dict[int, list[int]]:
    """Candidate index -> the slate positions where it was left out although not picked yet (a task the slate had).

    Logged with the candidate set, so offline evaluation knows what each position chose among.
    """
    left_out: dict[int, list[int]] = {}
    for position in range(1, len(picks)):
        offered = set(slate_offers(candidates, picks[:position]))
        for index in set(range(len(candidates))) - offered - set(picks[:position]):
            left_out.setdefault(index, []).append(position)
    return left_out


def offered_candidates(candidates: Sequence[TipCandidate], choices: Sequence[Choice]) -> list[dict[str, Any]]:
    """The candidate set as a request logs it: each one described, with `not_offered_at` where it was left out."""
    left_out = not_offered(candidates, [candidates.index(choice.candidate) for choice in choices])
    return [
        {**c.describe(), "not_offered_at": left_out[i]} if i in left_out else c.describe()
        for i, c in enumerate(candidates)
    ]


def greedy_slate(
    candidates: Sequence[TipCandidate], scores: np.ndarray, rng: np.random.Generator, k: int, epsilon: float = 0.0
) -> list[Choice]:
    """Return up to k picks without replacement: at each position, with probability `epsilon` a uniform
    pick among the remaining candidates, else a uniform pick among the remaining best-scored ones."""
    remaining, picked = list(range(len(candidates))), []
    chosen: list[Choice] = []
    while remaining and len(chosen) < k:
        top = scores[remaining].max()
        best = [i for i in remaining if scores[i] == top]
        explore = epsilon > 0 and rng.random() < epsilon
        pick = remaining[int(rng.integers(len(remaining)))] if explore else best[int(rng.integers(len(best)))]
        # Exact: the explore branch reaches every remaining candidate, the greedy branch only the best.
        propensity = epsilon / len(remaining) + (1.0 - epsilon) * (pick in best) / len(best)
        chosen.append(Choice(candidates[pick], float(scores[pick]), propensity))
        picked.append(pick)
        remaining = slate_offers(candidates, picked)
    return chosen
