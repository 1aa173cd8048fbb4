"""Thompson sampling and UCB1: picks, exact propensities, and the quadrature behind Thompson's."""

from collections import Counter

import numpy as np
from django.test import SimpleTestCase

from generation.candidates import TipCandidate
from recommender.policies import ArmEstimate, get_policy
from recommender.policies.thompson import Thompson, win_probabilities
from recommender.policies.ucb1 import UCB1


def pool(*arms: str) -> list[TipCandidate]:
    """Candidates named after their arm ("llm:do_now"), one per entry (repeat an arm for several)."""
    return [
        TipCandidate(kind=arm.split(":")[1], source=arm.split(":")[0], title=f"{arm} #{i}", body="")
        for i, arm in enumerate(arms)
    ]


class WinProbabilityTests(SimpleTestCase):
    def test_it_matches_the_closed_form_for_two_arms(self):
        # P(X > Y) for X ~ Beta(2, 1), Y ~ Beta(1, 1) is the integral of 2x * x over [0, 1] = 2/3.
        wins = win_probabilities(np.array([2.0, 1.0]), np.array([1.0, 1.0]))
        self.assertAlmostEqual(wins[0], 2 / 3, delta=2e-4)
        self.assertAlmostEqual(wins.sum(), 1.0, places=12)

    def test_it_splits_identical_posteriors_evenly(self):
        wins = win_probabilities(np.full(4, 30.0), np.full(4, 70.0))
        np.testing.assert_allclose(wins, 0.25, atol=1e-9)

    def test_it_agrees_with_a_large_monte_carlo_sample(self):
        rng = np.random.default_rng(7)
        cases = [
            ([3.0, 10.0, 50.5, 1.0], [4.0, 12.0, 60.0, 1.0]),  # wide and narrow together
            ([1000.0, 1020.0, 3.0], [1000.0, 980.0, 2.0]),  # two narrow, overlapping
            ([1.0, 1.0, 1.0], [30.0, 31.0, 1.0]),  # mass near 0 against a flat prior
        ]
        for alpha, beta in cases:
            with self.subTest(alpha=alpha):
                draws = rng.beta(alpha, beta, size=(400_000, len(alpha)))
                sampled = np.bincount(draws.argmax(axis=1), minlength=len(alpha)) / len(draws)
                np.testing.assert_allclose(win_probabilities(np.array(alpha), np.array(beta)), sampled, atol=3e-3)

    def test_it_stays_accurate_when_a_density_is_steep_at_an_end(self):
        # Shrunk counts are fractional: beta = 1.12 makes (1 - x)^0.12, whose slope is infinite at 1.
        alpha, beta = np.array([1.0, 2.875, 1.771]), np.array([1.0, 1.125, 12.229])
        draws = np.random.default_rng(0).beta(alpha, beta, size=(1_000_000, 3))
        sampled = np.bincount(draws.argmax(axis=1), minlength=3) / len(draws)
        np.testing.assert_allclose(win_probabilities(alpha, beta), sampled, atol=2e-3)
        np.testing.assert_allclose(win_probabilities(alpha, beta), win_probabilities(alpha, beta, grid=1000), atol=1e-4)

    def test_it_gives_absent_arms_nothing_and_ignores_them(self):
        alpha, beta = np.array([5.0, 50.0, 2.0]), np.array([5.0, 1.0, 2.0])
        present = np.array([True, False, True])
        wins = win_probabilities(alpha, beta, present)
        self.assertEqual(wins[1], 0.0)
        np.testing.assert_allclose(wins[[0, 2]], win_probabilities(alpha[[0, 2]], beta[[0, 2]]), atol=1e-12)

    def test_it_batches_rows_independently(self):
        alpha = np.array([[2.0, 1.0], [1.0, 2.0], [9.0, 9.0]])
        beta = np.ones_like(alpha) * np.array([[1.0], [1.0], [3.0]])
        batched = win_probabilities(alpha, beta)
        for row in range(3):
            np.testing.assert_allclose(batched[row], win_probabilities(alpha[row], beta[row]), atol=1e-12)

    def test_it_drops_an_arm_that_cannot_win(self):
        wins = win_probabilities(np.array([9000.0, 100.0, 8990.0]), np.array([1000.0, 900.0, 1010.0]))
        self.assertEqual(wins[1], 0.0)
        self.assertAlmostEqual(wins.sum(), 1.0, places=12)


class ThompsonTests(SimpleTestCase):
    stats = {"llm:do_now": ArmEstimate(20, 12), "llm:plan": ArmEstimate(20, 10), "todoist:batch": ArmEstimate(4, 1)}

    def test_it_is_registered_with_its_parameters(self):
        policy = get_policy("thompson")
        self.assertIsInstance(policy, Thompson)
        self.assertEqual(policy.params(), {"prior_alpha": 1.0, "prior_beta": 1.0})
        with self.assertRaises(ValueError):
            Thompson(prior_alpha=0.5)

    def test_it_serves_distinct_candidates_up_to_k(self):
        candidates = pool("llm:do_now", "llm:plan", "llm:plan", "todoist:batch")
        choices = Thompson().choose(candidates, self.stats, np.random.default_rng(1), 3)
        self.assertEqual(len(choices), 3)
        self.assertEqual(len({c.candidate for c in choices}), 3)
        self.assertEqual(len(Thompson().choose(candidates, self.stats, np.random.default_rng(1), 10)), 4)

    def test_it_is_reproducible_with_a_seeded_rng(self):
        candidates = pool("llm:do_now", "llm:plan", "todoist:batch")
        first = Thompson().choose(candidates, self.stats, np.random.default_rng(5), 2)
        again = Thompson().choose(candidates, self.stats, np.random.default_rng(5), 2)
        self.assertEqual(first, again)

    def test_its_first_pick_propensity_is_how_often_it_picks(self):
        candidates = pool("llm:do_now", "llm:plan", "llm:plan", "todoist:batch")
        rng = np.random.default_rng(11)
        picks = Counter()
        propensity = {}
        runs = 3000
        for _ in range(runs):
            [choice] = Thompson().choose(candidates, self.stats, rng, 1)
            picks[choice.candidate] += 1
            propensity[choice.candidate] = choice.propensity
        self.assertAlmostEqual(sum(propensity.values()), 1.0, places=9)
        for candidate, p in propensity.items():
            se = (p * (1 - p) / runs) ** 0.5
            self.assertAlmostEqual(picks[candidate] / runs, p, delta=4 * se + 1e-3, msg=candidate.title)

    def test_its_later_propensities_are_conditional_on_earlier_picks(self):
        candidates = pool("llm:do_now", "llm:plan")
        first, second = Thompson().choose(candidates, self.stats, np.random.default_rng(2), 2)
        self.assertAlmostEqual(second.propensity, 1.0, places=12)  # one candidate left
        self.assertLess(first.propensity, 1.0)

    def test_it_treats_an_unknown_arm_as_the_flat_prior(self):
        alpha, beta = Thompson().posterior(np.array([0.0, 10.0]), np.array([0.0, 12.0]))
        np.testing.assert_array_equal(alpha, [1.0, 11.0])  # reward sums are clipped into [0, count]
        np.testing.assert_array_equal(beta, [1.0, 1.0])


class UCB1Tests(SimpleTestCase):
    def test_it_is_registered_with_its_parameters(self):
        self.assertIsInstance(get_policy("ucb1"), UCB1)
        self.assertEqual(get_policy("ucb1", exploration=1.0).params(), {"exploration": 1.0})
        with self.assertRaises(ValueError):
            UCB1(exploration=-1)

    def test_it_tries_an_arm_without_rewards_first(self):
        stats = {"llm:do_now": ArmEstimate(100, 90)}
        [choice] = UCB1().choose(pool("llm:do_now", "llm:plan"), stats, np.random.default_rng(0), 1)
        self.assertEqual(choice.candidate.arm, "llm:plan")
        self.assertEqual(choice.propensity, 1.0)
        self.assertEqual(choice.score, float("inf"))

    def test_it_picks_the_highest_upper_bound_with_propensity_one(self):
        # Same mean, fewer observations: the larger bonus wins.
        stats = {"llm:do_now": ArmEstimate(100, 50), "llm:plan": ArmEstimate(10, 5)}
        [choice] = UCB1().choose(pool("llm:do_now", "llm:plan"), stats, np.random.default_rng(0), 1)
        self.assertEqual(choice.candidate.arm, "llm:plan")
        self.assertEqual(choice.propensity, 1.0)
        self.assertAlmostEqual(choice.score, 0.5 + np.sqrt(2 * np.log(110) / 10))

    def test_it_splits_ties_uniformly(self):
        stats = {"llm:do_now": ArmEstimate(10, 5)}
        candidates = pool("llm:do_now", "llm:do_now", "llm:do_now")
        rng = np.random.default_rng(3)
        picks = Counter()
        for _ in range(300):
            [choice] = UCB1().choose(candidates, stats, rng, 1)
            self.assertAlmostEqual(choice.propensity, 1 / 3)
            picks[choice.candidate] += 1
        self.assertEqual(len(picks), 3)

    def test_its_slate_is_ordered_by_bound(self):
        stats = {"llm:do_now": ArmEstimate(50, 40), "llm:plan": ArmEstimate(50, 10), "llm:batch": ArmEstimate(50, 25)}
        choices = UCB1().choose(pool("llm:plan", "llm:do_now", "llm:batch"), stats, np.random.default_rng(0), 3)
        self.assertEqual([c.candidate.arm for c in choices], ["llm:do_now", "llm:batch", "llm:plan"])
        self.assertEqual([c.propensity for c in choices], [1.0, 1.0, 1.0])
