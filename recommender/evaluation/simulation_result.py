"""What a simulation run leaves: per-round totals and served requests, read as logs, reward events and values."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from recommender.evaluation.logs import LoggedRow, SlateBuilder
from recommender.evaluation.targets import RewardEvents, arm_probabilities, replay_stats
from recommender.evaluation.world import ARMS, Context, SimulatedWorld, World
from recommender.policies import Policy
from recommender.policies.base import ArmEstimate, Choice, not_offered

ORACLE = "oracle"
ROUND = timedelta(hours=1)
DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass
class Served:
    """One simulated request of one policy: what it picked and what came back."""

    round: int
    context: Context
    choices: list[Choice]
    actions: list[str | None]
    rewards: list[float]
    estimates: dict[str, ArmEstimate] = field(default_factory=dict)  # what the policy decided from

    def logged_estimates(self) -> dict[str, list[float]]:
        """The estimates as serving logs them with the request (TipRequest.arm_estimates)."""
        return {arm: [e.count, e.reward_sum] for arm, e in sorted(self.estimates.items())}


def request_time(start: datetime, users: int, round_: int, user: int) -> datetime:
    """Requests of a round spread over its first half; rewards finalize at three quarters (before the next)."""
    return start + round_ * ROUND + (ROUND / 2) * (user / max(users, 1))


def finalized_time(start: datetime, round_: int) -> datetime:
    return start + round_ * ROUND + ROUND * 3 / 4


@dataclass
class PolicyRun:
    """Per-round totals for one policy (or the oracle) and, when kept, every request it served."""

    name: str
    reward: np.ndarray  # realized reward per round (summed over users and slate positions)
    expected: np.ndarray  # expected reward of its picks per round, under the hidden model
    regret: np.ndarray  # oracle's expected reward minus this policy's, per round
    served: list[Served] = field(default_factory=list)

    @property
    def tips(self) -> int:
        return sum(len(s.choices) for s in self.served)


@dataclass
class SimulationResult:
    users: int
    rounds: int
    slate: int
    seed: int
    runs: dict[str, PolicyRun]
    world: SimulatedWorld
    shrinkage: float
    epsilon: float = 0.1
    start: datetime = DEFAULT_START

    def summary(self) -> list[dict[str, float | str]]:
        """Final cumulative reward and regret per policy, and the share of the oracle's reward it reached."""
        oracle = float(self.runs[ORACLE].expected.sum()) if ORACLE in self.runs else float("nan")
        per_round = self.users * self.slate
        return [
            {
                "policy": name,
                "cumulative_reward": float(run.reward.sum()),
                "expected_reward": float(run.expected.sum()),
                "cumulative_regret": float(run.regret.sum()),
                "mean_reward": float(run.reward.sum()) / (self.rounds * per_round),
                "mean_expected_reward": float(run.expected.sum()) / (self.rounds * per_round),
                "reward_over_oracle": float(run.expected.sum()) / oracle if oracle else float("nan"),
            }
            for name, run in self.runs.items()
        ]

    def request_time(self, round_: int, user: int) -> datetime:
        return request_time(self.start, self.users, round_, user)

    def finalized_time(self, round_: int) -> datetime:
        return finalized_time(self.start, round_)

    def logged_rows(self, name: str, since_round: int = 0) -> Iterator[LoggedRow]:
        """The served tips of `name` from `since_round` on, as the evaluator reads them from tip_scores."""
        for request_id, served in enumerate(self.runs[name].served, start=1):
            if served.round < since_round:
                continue
            candidates = served.context.candidates
            arms = [c.arm for c in candidates]
            when = self.request_time(served.round, served.context.user).timestamp()
            picks = [candidates.index(choice.candidate) for choice in served.choices]
            dropped = [(at, arms[i]) for i, positions in not_offered(candidates, picks).items() for at in positions]
            for position, (choice, reward) in enumerate(zip(served.choices, served.rewards, strict=True)):
                first = position == 0
                yield LoggedRow(
                    request_id, when, served.context.user, name, arms, position, choice.candidate.arm,
                    choice.propensity, reward, True, served.logged_estimates() if first else None,
                    choice.candidate.kind, dropped if first else None,
                )  # fmt: skip

    def reward_events(self, name: str, arm_id: Callable[[str], int]) -> RewardEvents:
        """The rewards of `name` as the statistics received them (arm indices from `arm_id`)."""
        rows = [
            (self.finalized_time(s.round).timestamp(), s.context.user, arm_id(c.candidate.arm), r)
            for s in self.runs[name].served
            for c, r in zip(s.choices, s.rewards, strict=True)
        ]
        time, user, arm, reward = (np.array(column) for column in zip(*rows, strict=True)) if rows else ([],) * 4
        return RewardEvents(
            time=np.asarray(time, dtype=float),
            user=np.asarray(user, dtype=np.int64),
            arm=np.asarray(arm, dtype=np.int64),
            count=np.ones(len(rows)),
            reward_sum=np.asarray(reward, dtype=float),
        )

    def counterfactual_value(self, logs: str, policy: Policy, *, stats: str = "replay", since_round: int = 0) -> float:
        """The exact mean expected reward of `policy`'s first pick on the requests `logs` served from `since_round`.

        This is what offline evaluation estimates from those logs: the target deciding on the same
        requests with the statistics serving had then (`replay`) or when the period began (`frozen`),
        valued with the hidden expectations instead of the observed rewards.
        """
        if not isinstance(self.world, World):
            raise ValueError("The counterfactual value by arm exists only in the default world.")
        world = self.world
        builder = SlateBuilder(ARMS).extend(self.logged_rows(logs, since_round))
        slates = builder.build()
        events = self.reward_events(logs, builder.arm_id)
        start = self.request_time(since_round, 0).timestamp()
        times = slates.request_time if stats == "replay" else np.full(slates.n_requests, start)
        count, total = replay_stats(events, times, slates.request_user, len(ARMS), self.shrinkage)
        probabilities = arm_probabilities(policy, slates.candidate_counts[:, : len(ARMS)], count, total)
        every_arm = np.arange(len(ARMS))
        expected = np.array(
            [
                world.expected_rewards(s.context.user, s.context.urgency, every_arm)
                for s in self.runs[logs].served
                if s.round >= since_round
            ]
        )
        return float(np.einsum("ra,ra->r", probabilities, expected).mean())
