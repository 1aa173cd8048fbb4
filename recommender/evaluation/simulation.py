"""Synthetic users with hidden preferences, served by the project's own policies, to watch them learn.

The world (docs/evaluation.md): each user has a hidden taste per tip kind (a logit: the population's taste
plus a personal deviation) and, each round, a task urgency in [0, 1] that makes urgent kinds (do_now,
reschedule) more welcome. A tip engages the user with probability sigmoid(taste + urgency effect + source
effect); an engaged user completes or accepts it, a disengaged one snoozes, dismisses or says nothing. The
action becomes a reward through the project's reward table (`recommender.reward_rules`), and rewards update the
same statistics serving reads (global and per user, shrunk), finalized at the end of each round.

All policies see the same users, the same candidate pools and the same response draws (common random
numbers), so their curves differ only by their decisions. The oracle knows every hidden expectation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from generation.candidates import TipCandidate, TipKind, TipSource
from recommender.evaluation.logs import LoggedRow, SlateBuilder
from recommender.evaluation.targets import RewardEvents, arm_probabilities, replay_stats, shrink
from recommender.policies import POLICIES, Policy, get_policy
from recommender.policies.base import ArmEstimate, Choice
from recommender.reward_rules import DEFAULT_REWARD, REWARDS, Action

KINDS: tuple[str, ...] = tuple(TipKind.values)
SOURCES: tuple[str, ...] = (TipSource.TODOIST, TipSource.LLM)
ARMS: tuple[str, ...] = tuple(f"{source}:{kind}" for source in SOURCES for kind in KINDS)
ORACLE = "oracle"
# What a user may answer, in the order the response draw walks through them; None is silence.
OUTCOMES: tuple[str | None, ...] = (Action.COMPLETED, Action.ACCEPTED, Action.SNOOZED, Action.DISMISSED, None)
ROUND = timedelta(hours=1)
DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)


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


@dataclass
class Served:
    """One simulated request of one policy: what it picked and what came back."""

    round: int
    context: Context
    choices: list[Choice]
    actions: list[str | None]
    rewards: list[float]


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
    world: World
    shrinkage: float
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
                "share_of_oracle": float(run.expected.sum()) / oracle if oracle else float("nan"),
            }
            for name, run in self.runs.items()
        ]

    def request_time(self, round_: int, user: int) -> datetime:
        """Requests of a round spread over its first half; rewards finalize at three quarters (before the next)."""
        return self.start + round_ * ROUND + (ROUND / 2) * (user / max(self.users, 1))

    def finalized_time(self, round_: int) -> datetime:
        return self.start + round_ * ROUND + ROUND * 3 / 4

    def logged_rows(self, name: str, since_round: int = 0) -> Iterator[LoggedRow]:
        """The served tips of `name` from `since_round` on, as the evaluator reads them from tip_scores."""
        for request_id, served in enumerate(self.runs[name].served, start=1):
            if served.round < since_round:
                continue
            arms = [c.arm for c in served.context.candidates]
            when = self.request_time(served.round, served.context.user).timestamp()
            for position, (choice, reward) in enumerate(zip(served.choices, served.rewards, strict=True)):
                yield LoggedRow(
                    request_id, when, served.context.user, name, arms, position, choice.candidate.arm,
                    choice.propensity, reward, True, choice.candidate.kind,
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
                self.world.expected_rewards(s.context.user, s.context.urgency, every_arm)
                for s in self.runs[logs].served
                if s.round >= since_round
            ]
        )
        return float(np.einsum("ra,ra->r", probabilities, expected).mean())


class World:
    """The hidden truth: users' tastes, and for any user, urgency and candidate, the action probabilities."""

    def __init__(self, users: int, rng: np.random.Generator, population: Population | None = None) -> None:
        self.population = population or Population()
        p = self.population
        self.taste = np.asarray(p.taste) + rng.normal(0.0, p.personal_sd, size=(users, len(KINDS)))
        # Some users are chronically behind: their urgency is drawn around their own level.
        self.behind = rng.beta(2.0, 3.0, size=users)
        rewards = [REWARDS[a] if a is not None else DEFAULT_REWARD for a in OUTCOMES]
        self.outcome_rewards = np.asarray(rewards)

    def outcome_probabilities(self, user: int, urgency: float, arms: np.ndarray) -> np.ndarray:
        """(len(arms), len(OUTCOMES)): completed, accepted, snoozed, dismissed, silent."""
        p = self.population
        kind, source = arms % len(KINDS), arms // len(KINDS)
        logit = self.taste[user, kind] + np.asarray(p.urgency_effect)[kind] * urgency
        engage = 1.0 / (1.0 + np.exp(-(logit + np.asarray(p.source_effect)[source])))
        off = 1.0 - engage
        rest = 1.0 - p.silent_share
        return np.stack(
            [
                engage * p.completed_share,
                engage * (1.0 - p.completed_share),
                off * rest / 3.0,
                off * rest * 2.0 / 3.0,
                off * p.silent_share,
            ],
            axis=1,
        )

    def expected_rewards(self, user: int, urgency: float, arms: np.ndarray) -> np.ndarray:
        return self.outcome_probabilities(user, urgency, arms) @ self.outcome_rewards


def _candidate(user: int, kind: str, source: str, urgency: float, serial: int) -> TipCandidate:
    rule = source == TipSource.TODOIST
    return TipCandidate(
        kind=kind,
        source=source,
        title=f"{kind.replace('_', ' ').capitalize()} ({'rules' if rule else 'llm'})",
        body=f"Simulated {kind} tip for user {user}.",
        task_ids=(f"sim-{user}-{serial}",) if kind != TipKind.WELLBEING else (),
        llm_model=None if rule else "sim/generator",
        prompt_version="rules-v1" if rule else "sim-v1",
        features={"due_age_days": round(urgency * 10)},
    )


def make_contexts(users: int, rounds: int, world: World, rng: np.random.Generator) -> list[list[Context]]:
    """Every round's requests: rule tips that fit the user's tasks, plus three or four LLM tips of distinct kinds."""
    contexts = []
    serial = 0
    for _ in range(rounds):
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
        contexts.append(row)
    return contexts


class StatsBook:
    """Global and per-user count and reward sum per arm, read as serving reads them (shrunk per user)."""

    def __init__(self, users: int, strength: float) -> None:
        self.strength = strength
        self.global_count = np.zeros(len(ARMS))
        self.global_sum = np.zeros(len(ARMS))
        self.user_count = np.zeros((users, len(ARMS)))
        self.user_sum = np.zeros((users, len(ARMS)))

    def estimates(self, user: int) -> dict[str, ArmEstimate]:
        count, total = shrink(
            self.user_count[user], self.user_sum[user], self.global_count, self.global_sum, self.strength
        )
        return {
            arm: ArmEstimate(count=float(count[i]), reward_sum=float(total[i]))
            for i, arm in enumerate(ARMS)
            if self.global_count[i] > 0
        }

    def add(self, user: int, arm: int, reward: float) -> None:
        self.global_count[arm] += 1
        self.global_sum[arm] += reward
        self.user_count[user, arm] += 1
        self.user_sum[user, arm] += reward


# A replacement for the hidden model's action draw (the judge mode): (world, context, tip, uniform draw) -> action.
Responder = Callable[["World", Context, TipCandidate, float], str | None]


def _tuned(name: str, *, epsilon: float) -> dict[str, float]:
    """The run's `epsilon` for the policies the registry says take one."""
    return {"epsilon": epsilon} if "epsilon" in POLICIES[name].tuned_by else {}


def simulate(
    *,
    users: int = 100,
    rounds: int = 100,
    policies: Sequence[str] = ("egreedy", "thompson", "ucb1"),
    seed: int = 0,
    slate: int = 1,
    epsilon: float = 0.1,
    shrinkage: float = 10.0,
    keep: Sequence[str] = (),
    population: Population | None = None,
    responder: Responder | None = None,
    replicate: int = 0,
) -> SimulationResult:
    """Run every policy (and the oracle) over the same users and rounds; keep the requests of `keep`.

    `responder(world, context, candidate, u)` replaces the hidden model's action draw (the judge mode); the
    regret stays measured against the hidden model's expectations. `replicate` > 0 gives the policies other
    random streams in the same world (same users, pools and response draws): how much a run varies by itself.
    """
    streams = np.random.SeedSequence(seed).spawn(3)
    world = World(users, np.random.default_rng(streams[0]), population)
    contexts = make_contexts(users, rounds, world, np.random.default_rng(streams[1]))
    draws = np.random.default_rng(streams[2]).random((rounds, users, slate))
    expected = [[world.expected_rewards(c.user, c.urgency, c.arms) for c in row] for row in contexts]
    best = np.array([[np.sort(e)[::-1][:slate].sum() for e in row] for row in expected])
    runs = {}
    for name in (ORACLE, *policies):
        # Each policy's own rng depends only on the seed and its name, so adding a policy changes no other curve.
        policy_seed = np.random.SeedSequence([seed, *name.encode(), *([replicate] if replicate else [])])
        policy = None if name == ORACLE else get_policy(name, **_tuned(name, epsilon=epsilon))
        runs[name] = _run(
            name, policy, world, contexts, expected, best, draws, np.random.default_rng(policy_seed),
            StatsBook(users, shrinkage), slate, name in keep, responder,
        )  # fmt: skip
    return SimulationResult(
        users=users, rounds=rounds, slate=slate, seed=seed, runs=runs, world=world, shrinkage=shrinkage
    )


def _oracle_choices(context: Context, expected: np.ndarray, slate: int) -> list[Choice]:
    order = np.argsort(-expected, kind="stable")[:slate]
    return [Choice(context.candidates[i], float(expected[i]), 1.0) for i in order]


def _run(
    name: str,
    policy: Policy | None,
    world: World,
    contexts: list[list[Context]],
    expected: list[list[np.ndarray]],
    best: np.ndarray,
    draws: np.ndarray,
    rng: np.random.Generator,
    book: StatsBook,
    slate: int,
    keep: bool,
    responder: Responder | None,
) -> PolicyRun:
    rounds = len(contexts)
    run = PolicyRun(name, np.zeros(rounds), np.zeros(rounds), np.zeros(rounds))
    for round_, row in enumerate(contexts):
        finals: list[tuple[int, int, float]] = []
        for context, mu in zip(row, expected[round_], strict=True):
            if policy is None:
                choices = _oracle_choices(context, mu, slate)
            else:
                choices = policy.choose(context.candidates, book.estimates(context.user), rng, slate)
            actions, rewards = [], []
            for position, choice in enumerate(choices):
                index = context.candidates.index(choice.candidate)
                u = float(draws[round_, context.user, position])
                if responder is not None:
                    action = responder(world, context, choice.candidate, u)
                else:
                    cumulative = np.cumsum(
                        world.outcome_probabilities(context.user, context.urgency, context.arms[[index]])[0]
                    )
                    action = OUTCOMES[min(int(np.searchsorted(cumulative, u, "right")), len(OUTCOMES) - 1)]
                reward = REWARDS[action] if action is not None else DEFAULT_REWARD
                actions.append(action)
                rewards.append(reward)
                run.reward[round_] += reward
                run.expected[round_] += mu[index]
                finals.append((context.user, int(context.arms[index]), reward))
            run.regret[round_] += best[round_, context.user]
            if keep:
                run.served.append(Served(round_, context, choices, actions, rewards))
        # Never below 0 (the oracle is optimal per request): only float rounding could make it so.
        run.regret[round_] = max(run.regret[round_] - run.expected[round_], 0.0)
        for user, arm, reward in finals:  # rewards finalize at the end of the round
            book.add(user, arm, reward)
    return run
