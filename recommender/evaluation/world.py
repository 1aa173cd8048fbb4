"""The simulator's hidden world: synthetic users' tastes, their requests round by round, and their answers.

Each user has a hidden taste per tip kind (a logit: the population's taste plus a personal deviation) and,
each round, a task urgency in [0, 1] that makes urgent kinds (do_now, reschedule) more welcome. A tip engages
the user with probability sigmoid(taste + urgency effect + source effect); an engaged user completes or
accepts it, a disengaged one snoozes, dismisses or says nothing (docs/evaluation.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from generation.candidates import TipCandidate, TipKind, TipSource
from recommender.reward_table import DEFAULT_REWARD, REWARDS, Action

KINDS: tuple[str, ...] = tuple(TipKind.values)
SOURCES: tuple[str, ...] = (TipSource.TODOIST, TipSource.LLM)
ARMS: tuple[str, ...] = tuple(f"{source}:{kind}" for source in SOURCES for kind in KINDS)
# What a user may answer, in the order the response draw walks through them; None is silence.
OUTCOMES: tuple[str | None, ...] = (Action.COMPLETED, Action.ACCEPTED, Action.SNOOZED, Action.DISMISSED, None)


@dataclass(frozen=True)
class Population:
    """The default population: what users like on average, how much they differ, what urgency changes."""

    taste: tuple[float, ...] = (0.9, -0.2, -0.4, -0.6, 0.1, -0.8)  # logit per kind, in KINDS order
    personal_sd: float = 0.4
    urgency_effect: tuple[float, ...] = (0.6, 0.0, 1.6, -0.4, 0.0, -0.2)
    source_effect: tuple[float, ...] = (0.0, 0.15)  # todoist, llm
    completed_share: float = 0.4  # of engaged users; the rest accept
    silent_share: float = 0.3  # of disengaged users; the rest snooze (1/3) or dismiss (2/3)


@dataclass(frozen=True)
class Context:
    """One user's request in one round: urgency and the offered candidates (with their arm indices)."""

    user: int
    urgency: float
    candidates: tuple[TipCandidate, ...]
    arms: np.ndarray


class SimulatedWorld(Protocol):
    """What the simulator needs of a world: its name, users' requests round by round, and the truth about them."""

    name: str
    outcome_rewards: np.ndarray
    taste: np.ndarray

    def contexts(self, rng: np.random.Generator) -> Iterator[list[Context]]: ...

    def outcome_probabilities(self, context: Context) -> np.ndarray: ...


def outcome_values() -> np.ndarray:
    """The reward of each outcome, in OUTCOMES order (silence earns the default)."""
    return np.asarray([REWARDS[a] if a is not None else DEFAULT_REWARD for a in OUTCOMES])


def outcome_split(engage: np.ndarray, completed_share: float = 0.4, silent_share: float = 0.3) -> np.ndarray:
    """(len(engage), len(OUTCOMES)): an engaged user completes or accepts; a disengaged one snoozes (1/3 of
    those who answer), dismisses (2/3) or says nothing."""
    off = 1.0 - engage
    rest = 1.0 - silent_share
    return np.stack(
        [
            engage * completed_share,
            engage * (1.0 - completed_share),
            off * rest / 3.0,
            off * rest * 2.0 / 3.0,
            off * silent_share,
        ],
        axis=1,
    )


class World:
    """The hidden truth: users' tastes, and for any user, urgency and candidate, the action probabilities."""

    name = "default"

    def __init__(self, users: int, rng: np.random.Generator, population: Population | None = None) -> None:
        self.users = users
        self.population = population or Population()
        p = self.population
        self.taste = np.asarray(p.taste) + rng.normal(0.0, p.personal_sd, size=(users, len(KINDS)))
        # Some users are chronically behind: their urgency is drawn around their own level.
        self.behind = rng.beta(2.0, 3.0, size=users)
        self.outcome_rewards = outcome_values()

    def arm_outcome_probabilities(self, user: int, urgency: float, arms: np.ndarray) -> np.ndarray:
        """(len(arms), len(OUTCOMES)): completed, accepted, snoozed, dismissed, silent."""
        p = self.population
        kind, source = arms % len(KINDS), arms // len(KINDS)
        logit = self.taste[user, kind] + np.asarray(p.urgency_effect)[kind] * urgency
        engage = 1.0 / (1.0 + np.exp(-(logit + np.asarray(p.source_effect)[source])))
        return outcome_split(engage, p.completed_share, p.silent_share)

    def outcome_probabilities(self, context: Context) -> np.ndarray:
        """(len(candidates), len(OUTCOMES)): in this world a candidate's arm and the urgency decide."""
        return self.arm_outcome_probabilities(context.user, context.urgency, context.arms)

    def expected_rewards(self, user: int, urgency: float, arms: np.ndarray) -> np.ndarray:
        return self.arm_outcome_probabilities(user, urgency, arms) @ self.outcome_rewards

    def contexts(self, rng: np.random.Generator) -> Iterator[list[Context]]:
        return stream_contexts(self.users, self, rng)


def simulated_candidate(
    user: int, kind: str, source: str, task_ids: tuple[str, ...], features: dict[str, Any]
) -> TipCandidate:
    """A simulated tip as serving would offer it: rule tips from `rules-v1`, LLM tips from `sim/generator`."""
    rule = source == TipSource.TODOIST
    return TipCandidate(
        kind=kind,
        source=source,
        title=f"{kind.replace('_', ' ').capitalize()} ({'rules' if rule else 'llm'})",
        body=f"Simulated {kind} tip for user {user}.",
        task_ids=task_ids,
        llm_model=None if rule else "sim/generator",
        prompt_version="rules-v1" if rule else "sim-v1",
        features=features,
    )


def _candidate(user: int, kind: str, source: str, urgency: float, serial: int) -> TipCandidate:
    task_ids = (f"sim-{user}-{serial}",) if kind != TipKind.WELLBEING else ()
    return simulated_candidate(user, kind, source, task_ids, {"due_age_days": round(urgency * 10), "user_id": user})


def stream_contexts(users: int, world: World, rng: np.random.Generator) -> Iterator[list[Context]]:
    """Each round's requests, one round at a time: rule tips that fit the user's tasks, plus three or four LLM
    tips of distinct kinds. Only the current round exists in memory, whatever users x rounds."""
    serial = 0
    while True:
        row = []
        for user in range(users):
            urgency = float(np.clip(rng.normal(world.behind[user], 0.15), 0.0, 1.0))
            picks = [(TipKind.DO_NOW, TipSource.TODOIST)]
            if urgency > 0.5:
                picks.append((TipKind.RESCHEDULE, TipSource.TODOIST))
            picks += [(k, TipSource.TODOIST) for k in (TipKind.BREAK_DOWN, TipKind.BATCH) if rng.random() < 0.5]
            llm_kinds = rng.choice(len(KINDS), size=int(rng.integers(3, 5)), replace=False)
            picks += [(KINDS[k], TipSource.LLM) for k in sorted(llm_kinds)]
            candidates = []
            for kind, source in picks:
                serial += 1
                candidates.append(_candidate(user, kind, source, urgency, serial))
            arms = np.array([ARMS.index(c.arm) for c in candidates])
            row.append(Context(user, urgency, tuple(candidates), arms))
        yield row
