"""The simulator: the project's own policies serve synthetic users round by round, to watch them learn.

Rewards come from the project's reward table (`recommender.reward_table`) and update the same statistics
serving reads (global and per user, shrunk), finalized at the end of each round. All policies see the same
users, the same candidate pools and the same response draws (common random numbers), so their curves differ
only by their decisions. The oracle knows every hidden expectation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from generation.candidates import TipCandidate
from recommender.evaluation.contextual_world import ContextualWorld
from recommender.evaluation.simulation_result import ORACLE, PolicyRun, Served, SimulationResult
from recommender.evaluation.targets import shrink
from recommender.evaluation.world import ARMS, OUTCOMES, Context, Population, SimulatedWorld, World
from recommender.policies import POLICIES, Policy, get_policy
from recommender.policies.base import ArmEstimate, Choice, Learner, ServedSlate
from recommender.reward_table import DEFAULT_REWARD, REWARDS

# Receives the kept requests of one round (e.g. to write them): then they are not kept in memory.
Sink = Callable[[list[Served]], None]


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
Responder = Callable[[SimulatedWorld, Context, TipCandidate, float], str | None]

# The worlds a simulation can run in: today's (arms and urgency decide) and the contextual one.
WORLDS = ("default", "contextual")


def build_world(name: str, users: int, rng: np.random.Generator, population: Population | None) -> SimulatedWorld:
    if name == "contextual":
        return ContextualWorld(users, rng)
    if name == "default":
        return World(users, rng, population)
    raise ValueError(f"Unknown world {name!r}; known: {', '.join(WORLDS)}")


def simulated_policy(name: str, epsilon: float) -> Policy:
    """The policy `name` as the simulator runs it: the run's `epsilon` for the policies the registry says take one."""
    return get_policy(name, **({"epsilon": epsilon} if "epsilon" in POLICIES[name].tuned_by else {}))


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
    sink: Sink | None = None,
    world: str = "default",
) -> SimulationResult:
    """Run every policy (and the oracle) over the same users and rounds; keep the requests of `keep`.

    With `sink`, those requests are handed to it at the end of each round instead of kept, so memory stays
    bounded whatever users x rounds (the simulate command writes them to the database that way).

    `responder(world, context, candidate, u)` replaces the hidden model's action draw (the judge mode); the
    regret stays measured against the hidden model's expectations. `replicate` > 0 gives the policies other
    random streams in the same world (same users, pools and response draws): how much a run varies by itself.
    """
    streams = np.random.SeedSequence(seed).spawn(3)
    hidden = build_world(world, users, np.random.default_rng(streams[0]), population)
    contexts = hidden.contexts(np.random.default_rng(streams[1]))
    draw_rng = np.random.default_rng(streams[2])
    runners = []
    for name in (ORACLE, *policies):
        # Each policy's own rng depends only on the seed and its name, so adding a policy changes no other curve.
        policy_seed = np.random.SeedSequence([seed, *name.encode(), *([replicate] if replicate else [])])
        policy = None if name == ORACLE else simulated_policy(name, epsilon)
        run = PolicyRun(name, np.zeros(rounds), np.zeros(rounds), np.zeros(rounds))
        rng = np.random.default_rng(policy_seed)
        book = StatsBook(users, shrinkage)
        runners.append(_Runner(run, policy, hidden, rng, book, slate, name in keep, responder, sink))
    # Round by round, every policy on the same requests and draws: memory holds one round, not users x rounds.
    for round_ in range(rounds):
        row = next(contexts)
        draws = draw_rng.random((users, slate))
        # The action probabilities of every candidate, once for all policies (the draw and the expectation).
        probabilities = [hidden.outcome_probabilities(c) for c in row]
        cumulative = [np.cumsum(p, axis=1) for p in probabilities]
        expected = [p @ hidden.outcome_rewards for p in probabilities]
        best = np.array([np.sort(e)[::-1][:slate].sum() for e in expected])
        for runner in runners:
            runner.step(round_, row, (expected, cumulative, best), draws)
    return SimulationResult(
        users=users, rounds=rounds, slate=slate, seed=seed, runs={r.run.name: r.run for r in runners}, world=hidden,
        shrinkage=shrinkage, epsilon=epsilon,
    )  # fmt: skip


def _oracle_choices(context: Context, expected: np.ndarray, slate: int) -> list[Choice]:
    order = np.argsort(-expected, kind="stable")[:slate]
    return [Choice(context.candidates[i], float(expected[i]), 1.0) for i in order]


@dataclass
class _Runner:
    """One policy (or the oracle, when `policy` is None) serving round after round with its own statistics."""

    run: PolicyRun
    policy: Policy | None
    world: SimulatedWorld
    rng: np.random.Generator
    book: StatsBook
    slate: int
    keep: bool
    responder: Responder | None
    sink: Sink | None = None

    def _action(self, context: Context, index: int, cumulative: np.ndarray, u: float) -> str | None:
        if self.responder is not None:
            return self.responder(self.world, context, context.candidates[index], u)
        return OUTCOMES[min(int(np.searchsorted(cumulative[index], u, "right")), len(OUTCOMES) - 1)]

    def step(
        self,
        round_: int,
        row: list[Context],
        truth: tuple[list[np.ndarray], list[np.ndarray], np.ndarray],
        draws: np.ndarray,
    ) -> None:
        """Serve every request of one round, then finalize its rewards into the statistics.

        `truth` is, per request, the hidden expected reward and cumulative action probabilities of each
        candidate, and the best expected slate reward.
        """
        run = self.run
        expected, cumulative, best = truth
        finals: list[tuple[int, int, float]] = []
        slates: list[ServedSlate] = []
        kept: list[Served] = []
        for context, mu, outcomes in zip(row, expected, cumulative, strict=True):
            estimates: dict[str, ArmEstimate] = {}
            if self.policy is None:
                choices = _oracle_choices(context, mu, self.slate)
            else:
                estimates = self.book.estimates(context.user)
                choices = self.policy.choose(context.candidates, estimates, self.rng, self.slate)
            actions, rewards = [], []
            for position, choice in enumerate(choices):
                index = context.candidates.index(choice.candidate)
                action = self._action(context, index, outcomes, float(draws[context.user, position]))
                reward = REWARDS[action] if action is not None else DEFAULT_REWARD
                actions.append(action)
                rewards.append(reward)
                run.reward[round_] += reward
                run.expected[round_] += mu[index]
                finals.append((context.user, int(context.arms[index]), reward))
            run.regret[round_] += best[context.user]
            slates.append((context.candidates, estimates, choices, rewards))
            if self.keep:
                kept.append(Served(round_, context, choices, actions, rewards, estimates))
        if kept and self.sink is not None:
            self.sink(kept)
        else:
            run.served.extend(kept)
        # Never below 0 (the oracle is optimal per request): only float rounding could make it so.
        run.regret[round_] = max(run.regret[round_] - run.expected[round_], 0.0)
        for user, arm, reward in finals:  # rewards finalize at the end of the round
            self.book.add(user, arm, reward)
        if isinstance(self.policy, Learner):  # a contextual model learns from the round's finalized rewards at once
            self.policy.learn_window(slates)
