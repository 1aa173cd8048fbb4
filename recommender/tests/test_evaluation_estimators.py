"""The estimators and the target-policy machinery, on numbers small enough to check by hand."""

import math

import numpy as np
from django.test import SimpleTestCase, override_settings

from generation.candidates import TipCandidate
from recommender.evaluation.contextual import Replayed, paired_evaluation
from recommender.evaluation.estimators import effective_sample_size, per_arm_means, ratio_estimate
from recommender.evaluation.targets import RewardEvents, arm_probabilities, replay_stats, shrink
from recommender.policies import ArmEstimate, get_policy
from recommender.policies.thompson import win_probabilities, win_probabilities_many
from recommender.selectors.serving import shrunk_estimate

ARMS = ["llm:do_now", "llm:plan", "todoist:batch", "todoist:reschedule"]


class RatioEstimateTests(SimpleTestCase):
    def test_it_is_the_mean_with_a_normal_interval_when_the_denominator_is_one(self):
        values = np.array([0.0, 1.0, 0.5, 0.5])
        estimate = ratio_estimate(values)
        se = values.std(ddof=1) / 2
        self.assertAlmostEqual(estimate.value, 0.5)
        self.assertAlmostEqual(estimate.std_error, se)
        self.assertAlmostEqual(estimate.low, 0.5 - 1.959963984540054 * se)
        self.assertTrue(estimate.contains(0.5))
        self.assertEqual(estimate.n, 4)
        self.assertAlmostEqual(estimate.ess, 4.0)

    def test_it_self_normalises_by_the_weights(self):
        weights, rewards = np.array([2.0, 0.5, 0.5]), np.array([1.0, 0.0, 1.0])
        self.assertAlmostEqual(ratio_estimate(weights * rewards, weights).value, 2.5 / 3.0)

    def test_it_treats_a_cluster_as_one_unit(self):
        # Two clusters with identical totals: no spread between units, so no uncertainty.
        estimate = ratio_estimate(np.array([1.0, 0.0, 0.0, 1.0]), clusters=np.array([0, 0, 1, 1]))
        self.assertAlmostEqual(estimate.value, 0.5)
        self.assertAlmostEqual(estimate.std_error, 0.0)

    def test_it_reports_nothing_it_cannot_know(self):
        self.assertTrue(math.isnan(ratio_estimate(np.array([])).value))
        single = ratio_estimate(np.array([0.7]))
        self.assertAlmostEqual(single.value, 0.7)
        self.assertTrue(math.isnan(single.low))
        self.assertIsNone(single.as_dict()["low"])

    def test_the_effective_sample_size_counts_what_the_weights_are_worth(self):
        self.assertAlmostEqual(effective_sample_size(np.ones(10)), 10.0)
        self.assertAlmostEqual(effective_sample_size(np.array([10.0, 0.0, 0.0, 0.0])), 1.0)
        self.assertEqual(effective_sample_size(np.zeros(3)), 0.0)

    def test_the_reward_model_never_sees_the_fold_it_predicts(self):
        arms = np.array([0, 0, 1, 1, 0])
        rewards = np.array([1.0, 0.0, 0.5, 0.25, 0.5])
        folds = np.array([0, 1, 0, 1, 1])
        table = per_arm_means(arms, rewards, folds, n_arms=3, prior=0.5)
        np.testing.assert_allclose(table[0], [0.25, 0.25, 0.25])  # fold 1: arm 0 mean, arm 1 mean, arm 2 overall
        np.testing.assert_allclose(table[1], [1.0, 0.5, 0.75])


class TargetProbabilityTests(SimpleTestCase):
    """The vectorised probabilities must be the propensities the real policies report."""

    def random_case(self, rng):
        arms = list(rng.choice(ARMS, size=int(rng.integers(2, 7))))
        stats = {
            arm: ArmEstimate(float(n), float(n) * float(rng.random()))
            for arm in ARMS
            if (n := int(rng.integers(0, 40))) > 0 and rng.random() < 0.8
        }
        return arms, stats

    def test_they_match_choose_for_every_policy(self):
        rng = np.random.default_rng(3)
        policies = [
            get_policy("egreedy", epsilon=0.2),
            get_policy("uniform"),
            get_policy("ucb1"),
            get_policy("thompson"),
        ]
        for case in range(25):
            arms, stats = self.random_case(rng)
            candidates = [
                TipCandidate(kind=a.split(":")[1], source=a.split(":")[0], title=str(i), body="")
                for i, a in enumerate(arms)
            ]
            left = np.array([[arms.count(a) for a in ARMS]], dtype=float)
            count = np.array([[stats.get(a, ArmEstimate()).count for a in ARMS]])
            total = np.array([[stats.get(a, ArmEstimate()).reward_sum for a in ARMS]])
            for policy in policies:
                with self.subTest(case=case, policy=policy.name):
                    [choice] = policy.choose(candidates, stats, np.random.default_rng(case), 1)
                    probabilities = arm_probabilities(policy, left, count, total)[0]
                    arm = ARMS.index(choice.candidate.arm)
                    # Thompson's evaluation uses a coarser quadrature grid than serving (thompson.EVALUATION_GRID).
                    delta = 1e-3 if policy.name == "thompson" else 1e-9
                    self.assertAlmostEqual(probabilities[arm] / left[0, arm], choice.propensity, delta=delta)
                    self.assertAlmostEqual(probabilities.sum(), 1.0, places=9)


class ThompsonManyTests(SimpleTestCase):
    """The evaluator's batched quadrature gives every row what serving's `win_probabilities` gives it alone."""

    def test_each_row_gets_its_own_serving_value(self):
        rng = np.random.default_rng(11)
        rows, arms = 400, 9
        count = rng.choice([0.0, 3.0, 40.0, 800.0, 30000.0], size=(rows, arms)) * rng.random((rows, arms))
        count[:40] = 0.0  # no statistics yet: identical flat posteriors (every grid point shared)
        count[40:80, 1:] = 1e5  # near-certain arms: most cannot win and are pruned
        reward_sum = count * rng.random((rows, arms))
        alpha, beta = 1.0 + reward_sum, 1.0 + count - reward_sum
        present = rng.random((rows, arms)) < 0.6
        present[:, 0] = True
        present[80:100] = np.arange(arms) == 3  # a lone candidate arm
        for grid in (24, 48):
            with self.subTest(grid=grid):
                many = win_probabilities_many(alpha, beta, present, grid=grid, batch=16)
                for row in range(rows):
                    # Up to rounding: log B(a, b) of counts near 1e5 is a difference of numbers near 1e6, whose
                    # last bit is 1e-10; the batched lgamma and math.lgamma may round differently.
                    alone = win_probabilities(alpha[row], beta[row], present[row], grid=grid)
                    np.testing.assert_allclose(many[row], alone, rtol=0, atol=1e-9, err_msg=f"row {row}")
                np.testing.assert_allclose(many.sum(axis=1), 1.0, atol=1e-12)


class ReplayTests(SimpleTestCase):
    def events(self):
        # user 1 on arm 0 at t=1 and t=3; user 2 on arm 0 at t=2; user 1 on arm 1 at t=2.
        return RewardEvents(
            time=np.array([1.0, 3.0, 2.0, 2.0]),
            user=np.array([1, 1, 2, 1]),
            arm=np.array([0, 0, 0, 1]),
            count=np.ones(4),
            reward_sum=np.array([1.0, 0.5, 0.0, 0.75]),
        )

    @override_settings(TIPS_SHRINKAGE_STRENGTH=10.0)
    def test_it_replays_what_serving_read_at_each_moment(self):
        count, total = replay_stats(self.events(), np.array([2.0, 3.5, 2.5]), np.array([1, 1, 2]), 2, 10.0)
        # User 1 at t=2 (strictly before): their arm-0 reward at t=1 and nobody else's yet.
        expected = shrunk_estimate(user_count=1, user_sum=1.0, global_count=1, global_sum=1.0)
        np.testing.assert_allclose((count[0, 0], total[0, 0]), (expected.count, expected.reward_sum), rtol=1e-12)
        self.assertEqual((count[0, 1], total[0, 1]), (0.0, 0.0))
        # User 1 at t=3.5: three arm-0 rewards globally, two of them theirs.
        expected = shrunk_estimate(user_count=2, user_sum=1.5, global_count=3, global_sum=1.5)
        np.testing.assert_allclose((count[1, 0], total[1, 0]), (expected.count, expected.reward_sum), rtol=1e-12)
        # User 2 at t=2.5: their own 0.0 at t=2, shrunk toward the global arm-0 mean of (1.0 + 0.0) / 2.
        expected = shrunk_estimate(user_count=1, user_sum=0.0, global_count=2, global_sum=1.0)
        np.testing.assert_allclose((count[2, 0], total[2, 0]), (expected.count, expected.reward_sum), rtol=1e-12)

    def test_shrinking_is_what_serving_does(self):
        for user_count, user_sum, global_count, global_sum in [
            (0, 0, 0, 0),
            (3, 2, 50, 30),
            (4, 1, 4, 1),
            (0, 0, 7, 3.5),
        ]:
            with override_settings(TIPS_SHRINKAGE_STRENGTH=10.0):
                expected = shrunk_estimate(
                    user_count=user_count, user_sum=user_sum, global_count=global_count, global_sum=global_sum
                )
            count, total = shrink(
                np.array([user_count], float), np.array([user_sum], float), np.array([global_count], float),
                np.array([global_sum], float), 10.0,
            )  # fmt: skip
            self.assertAlmostEqual(count[0], expected.count)
            self.assertAlmostEqual(total[0], expected.reward_sum)


class PairedEvaluationTests(SimpleTestCase):
    # Five logged picks: the target's weight, the reward, the reward model's value of the logged pick and its
    # expectation under the target.
    REPLAYED = Replayed(
        weights=np.array([0.5, 1.0, 2.0, 8.0, 0.0]),
        rewards=np.array([1.0, 0.0, 1.0, 1.0, 0.0]),
        predicted_logged=np.array([0.6, 0.2, 0.5, 0.3, 0.4]),
        predicted_target=np.array([0.7, 0.3, 0.6, 0.8, 0.2]),
    )

    def test_switch_dr_drops_the_correction_above_the_threshold_as_open_bandit_pipeline_does(self):
        r = self.REPLAYED
        # OBP's SwitchDoublyRobust per round: q_hat under the target + 1{w <= lambda} w (r - q_hat(logged)).
        expected = r.predicted_target + (r.weights <= 4.0) * r.weights * (r.rewards - r.predicted_logged)
        evaluation = paired_evaluation(r, switch=4.0)
        self.assertAlmostEqual(evaluation.target.value, expected.mean(), places=12)
        self.assertAlmostEqual(evaluation.difference.value, (expected - r.rewards).mean(), places=12)
        self.assertEqual(evaluation.as_dict()["estimator"], "switch-dr")

    def test_clipping_caps_the_weight_instead(self):
        r = self.REPLAYED
        expected = r.predicted_target + np.minimum(r.weights, 4.0) * (r.rewards - r.predicted_logged)
        self.assertAlmostEqual(paired_evaluation(r, clip=4.0).target.value, expected.mean(), places=12)
        self.assertNotAlmostEqual(paired_evaluation(r, switch=4.0).target.value, expected.mean(), places=3)

    def test_it_takes_one_way_to_bound_the_weights(self):
        with self.assertRaisesRegex(ValueError, "give one"):
            paired_evaluation(self.REPLAYED, clip=4.0, switch=4.0)
