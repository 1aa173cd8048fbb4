"""Policies: logged propensities are the exact probabilities of what the policy does.

The statistical tests draw many slates with a seeded rng (so they are deterministic) and compare the
empirical frequency of every slate with the product of its logged per-position propensities (the
conditional probability of each pick given the earlier picks). Tolerances are 4.5 standard errors.
"""

import math
from collections import Counter

import numpy as np
import pytest
from django.test import SimpleTestCase, override_settings

from generation.candidates import TipCandidate
from recommender.checks import check_tips_policy
from recommender.policies import POLICIES, ArmEstimate, get_policy
from recommender.policies.egreedy import EpsilonGreedy
from recommender.policies.uniform import Uniform

DRAWS = 6000


def candidates(*arms: str) -> list[TipCandidate]:
    out = []
    for i, arm in enumerate(arms):
        source, kind = arm.split(":")
        out.append(TipCandidate(kind=kind, source=source, title=f"tip {i}", body="", task_ids=(str(i),)))
    return out


def slate_frequencies(policy, pool, stats, k, draws=DRAWS, seed=7):
    """Return {slate (indices): (empirical frequency, logged slate probability)}; checks logs are consistent."""
    rng = np.random.default_rng(seed)
    index = {id(c): i for i, c in enumerate(pool)}
    counts: Counter = Counter()
    logged: dict[tuple[int, ...], float] = {}
    for _ in range(draws):
        choices = policy.choose(pool, stats, rng, k)
        slate = tuple(index[id(c.candidate)] for c in choices)
        probability = math.prod(c.propensity for c in choices)
        # The same slate must always be logged with the same propensities: they are a function of the pool.
        assert logged.setdefault(slate, probability) == pytest.approx(probability)
        counts[slate] += 1
    return {slate: (counts[slate] / draws, logged[slate]) for slate in counts}


def assert_matches(frequencies, *, expected_slates=None):
    total = sum(p for _, p in frequencies.values())
    if expected_slates is not None:
        # Every slate with a non-zero probability showed up, and the logged probabilities sum to 1.
        assert len(frequencies) == expected_slates
        assert total == pytest.approx(1.0)
    for slate, (freq, p) in frequencies.items():
        tolerance = 4.5 * math.sqrt(p * (1 - p) / DRAWS) + 1e-9
        assert abs(freq - p) <= tolerance, f"slate {slate}: drawn {freq:.4f}, logged {p:.4f}"


STATS = {
    "llm:do_now": ArmEstimate(count=10, reward_sum=8),  # mean 0.8: the best
    "todoist:do_now": ArmEstimate(count=10, reward_sum=5),
    "todoist:plan": ArmEstimate(count=4, reward_sum=1),
}


def test_it_logs_exact_propensities_for_epsilon_greedy_slates():
    pool = candidates("llm:do_now", "todoist:do_now", "todoist:plan", "llm:batch")  # llm:batch: prior 0.5
    frequencies = slate_frequencies(EpsilonGreedy(epsilon=0.3), pool, STATS, k=2)
    assert_matches(frequencies, expected_slates=12)  # 4 * 3 ordered pairs


def test_it_logs_exact_propensities_for_epsilon_greedy_slates_with_ties():
    # Two arms tie for best (and two candidates share an arm): the greedy branch splits between them.
    # epsilon 0.5 makes even the rarest slate (all three explored) likely enough to be seen.
    pool = candidates("llm:do_now", "llm:do_now", "todoist:plan", "todoist:do_now", "llm:batch")
    stats = {**STATS, "todoist:do_now": ArmEstimate(count=5, reward_sum=4)}  # 0.8 too
    frequencies = slate_frequencies(EpsilonGreedy(epsilon=0.5), pool, stats, k=3)
    assert_matches(frequencies, expected_slates=60)  # 5 * 4 * 3


def test_it_gives_greedy_picks_the_documented_propensity():
    pool = candidates("llm:do_now", "todoist:do_now", "todoist:plan")
    first, second = EpsilonGreedy(epsilon=0.1).choose(pool, STATS, np.random.default_rng(1), 2)
    # Greedy pick of the unique best among 3: 0.1 / 3 + 0.9; then best of the 2 left: 0.1 / 2 + 0.9.
    assert (first.candidate, first.propensity) == (pool[0], pytest.approx(0.1 / 3 + 0.9))
    assert (second.candidate, second.propensity) == (pool[1], pytest.approx(0.1 / 2 + 0.9))
    assert first.score == pytest.approx(0.8)


def test_it_never_explores_with_epsilon_zero_and_always_with_one():
    pool = candidates("llm:do_now", "todoist:do_now", "todoist:plan")
    greedy = slate_frequencies(EpsilonGreedy(epsilon=0.0), pool, STATS, k=3, draws=50)
    assert list(greedy) == [(0, 1, 2)]
    assert greedy[(0, 1, 2)][1] == pytest.approx(1.0)
    explore = slate_frequencies(EpsilonGreedy(epsilon=1.0), pool, STATS, k=1)
    assert_matches(explore, expected_slates=3)
    assert all(p == pytest.approx(1 / 3) for _, p in explore.values())


def test_it_logs_exact_propensities_for_uniform_slates():
    pool = candidates("llm:do_now", "todoist:do_now", "todoist:plan", "llm:batch")
    assert_matches(slate_frequencies(Uniform(), pool, STATS, k=3), expected_slates=24)


def test_it_serves_fewer_than_k_when_the_pool_is_small_and_nothing_from_an_empty_pool():
    rng = np.random.default_rng(0)
    for policy in (EpsilonGreedy(epsilon=0.1), Uniform()):
        assert len(policy.choose(candidates("llm:do_now", "todoist:plan"), STATS, rng, 5)) == 2
        assert policy.choose([], STATS, rng, 3) == []


def test_it_finds_policies_by_name_and_rejects_unknown_ones():
    assert get_policy("egreedy", epsilon=0.25).params()["epsilon"] == 0.25
    with pytest.raises(KeyError, match="egreedy"):
        get_policy("nope")
    with pytest.raises(ValueError, match="epsilon"):
        EpsilonGreedy(epsilon=1.5)


class TipsPolicyCheckTests(SimpleTestCase):
    def test_it_accepts_every_registered_policy(self):
        for name in POLICIES:
            with self.subTest(policy=name), override_settings(TIPS_POLICY=name):
                self.assertEqual(check_tips_policy(), [])

    def test_it_flags_an_unknown_policy_at_start_up(self):
        with override_settings(TIPS_POLICY="egredy"):
            errors = check_tips_policy()
        self.assertEqual([e.id for e in errors], ["recommender.E001"])
        self.assertIn("egreedy", errors[0].hint)
