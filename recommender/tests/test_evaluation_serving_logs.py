"""Logs written by the real serving and feedback services: the evaluator replays what the policy decided from."""

import numpy as np
import pytest
from django.test import override_settings

from recommender.evaluation.selectors import policy_evaluation
from recommender.models import TipRequest
from recommender.services.feedback import feedback_record
from recommender.services.serving import serving_policy, tips_serve
from recommender.tests.serving_utils import connect_sample, sample_pool, store_pool
from testsupport.cases import BaseTestCase


# A warm global-statistics cache: feedback forgets only the user's own keys, so the global copy goes stale.
@override_settings(TIPS_GLOBAL_ARMS_CACHE_S=300, TIPS_POLICY="egreedy")
@pytest.mark.clock
class OwnLogsTests(BaseTestCase):
    def setUp(self):
        super().setUp()
        for user in (self.alice, self.bob):
            connect_sample(user)
            store_pool(user, sample_pool(6))

    def serve(self, user, seed):
        (tip,) = tips_serve(user=user, limit=1, rng=np.random.default_rng(seed)).tips
        return tip

    def reproduce(self):
        """The issue's reproducer: alice dismisses, bob completes, alice is served again from the stale cache."""
        first = self.serve(self.alice, 1)
        feedback_record(user=self.alice, tip_id=first.pk, action="dismissed")
        feedback_record(user=self.bob, tip_id=self.serve(self.bob, 2).pk, action="completed")
        again = self.serve(self.alice, 3)
        feedback_record(user=self.alice, tip_id=again.pk, action="dismissed")
        return first, again

    def test_egreedy_on_its_own_serving_logs_weighs_every_tip_one(self):
        first, again = self.reproduce()
        # Alice's second request decided from the stale global copy (no reward yet: nothing to shrink toward)
        # and her own fresh dismissal; that is what it logged, and what the evaluator replays.
        self.assertEqual(TipRequest.objects.get(pk=again.request_id).arm_estimates, {first.arm: [1.0, 0.0]})
        evaluation = policy_evaluation(policy=serving_policy())
        self.assertEqual((evaluation.rows, evaluation.logged_estimates), (3, 3))
        self.assertAlmostEqual(evaluation.ips.value, evaluation.logged.value, places=12)
        self.assertAlmostEqual(evaluation.ips.ess, 3.0, places=12)
        (position,) = evaluation.diagnostics
        self.assertAlmostEqual(position.mean_weight.value, 1.0, places=12)  # a mean of propensity ratios
        self.assertEqual(position.mismatched, 0)
        self.assertTrue(all("mismatched" not in w and "differ" not in w for w in evaluation.warnings))

    def test_without_the_logged_estimates_the_replay_contradicts_the_stale_propensity(self):
        # What the evaluator did before requests logged their estimates: recompute them from final rewards.
        self.reproduce()
        TipRequest.objects.update(arm_estimates=None)
        evaluation = policy_evaluation(policy=serving_policy())
        self.assertEqual(evaluation.logged_estimates, 0)
        self.assertNotAlmostEqual(evaluation.ips.value, evaluation.logged.value, places=3)
        self.assertLess(evaluation.ips.ess, 3.0 - 1e-6)
        self.assertEqual(evaluation.diagnostics[0].mismatched, 1)  # alice's second request
        self.assertIn("1 of 3 logged propensities at position 1 differ", " ".join(evaluation.warnings))
