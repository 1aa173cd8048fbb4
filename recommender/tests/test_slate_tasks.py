"""One tip per task in a slate while the pool has others, and an evaluator that knows what each position offered."""

from datetime import timedelta

import numpy as np
from django.conf import settings
from django.test import SimpleTestCase, override_settings
from django.utils import timezone

from recommender.evaluation.selectors import policy_evaluation
from recommender.models import TipRequest, TipScore
from recommender.policies import get_policy
from recommender.policies.base import not_offered, slate_offers
from recommender.services.feedback import feedback_record
from recommender.services.rewards import rewards_finalize_expired
from recommender.services.serving import serving_policy, tips_serve
from recommender.tests.factories import llm_tip
from recommender.tests.serving_utils import connect_sample, store_pool
from testsupport.cases import BaseTestCase

# Three tips about one task, and two others.
PASSPORT = ("sample-01",)
POOL = [
    llm_tip("do_now", PASSPORT, title="Do it now: renew passport"),
    llm_tip("break_down", PASSPORT, title="Break down: renew passport"),
    llm_tip("reschedule", PASSPORT, title="Move: renew passport"),
    llm_tip("plan", ("sample-02",), title="Plan the tax return"),
    llm_tip("wellbeing", (), title="Take a walk"),
]


class SlateOffersTests(SimpleTestCase):
    def test_after_a_pick_the_tips_about_its_task_wait_while_others_are_left(self):
        self.assertEqual(slate_offers(POOL, [0]), [3, 4])
        self.assertEqual(slate_offers(POOL, [0, 3]), [4])

    def test_they_come_back_when_nothing_else_is_left(self):
        self.assertEqual(slate_offers(POOL, [0, 3, 4]), [1, 2])
        self.assertEqual(not_offered(POOL, [0, 3, 4, 1]), {1: [1, 2], 2: [1, 2]})

    def test_every_policy_serves_one_tip_per_task_with_the_probability_of_what_it_offered(self):
        for name in ("uniform", "egreedy", "thompson", "ucb1", "contextual"):
            with self.subTest(policy=name):
                choices = get_policy(name).choose(POOL, {}, np.random.default_rng(3), 3)
                tasks = [task for choice in choices for task in choice.candidate.task_ids]
                self.assertEqual(len(tasks), len(set(tasks)))
                if name == "uniform":  # each pick one of what its position offered
                    picks = [POOL.index(c.candidate) for c in choices]
                    offered = [len(slate_offers(POOL, picks[:p])) for p in range(3)]
                    self.assertEqual([c.propensity for c in choices], [1 / n for n in offered])


@override_settings(TIPS_POLICY="egreedy", TIPS_EPSILON=0.5)
class SlateLogTests(BaseTestCase):
    def setUp(self):
        super().setUp()
        connect_sample(self.alice)
        store_pool(self.alice, POOL)

    def test_served_slates_hold_one_tip_per_task(self):
        for seed in range(20):
            tips = tips_serve(user=self.alice, limit=3, rng=np.random.default_rng(seed)).tips
            tasks = [task for tip in tips for task in tip.task_ids]
            self.assertEqual(len(tasks), len(set(tasks)), [tip.title for tip in tips])

    def test_the_evaluator_replays_each_position_among_what_it_offered(self):
        for seed in range(30):
            for tip in tips_serve(user=self.alice, limit=3, rng=np.random.default_rng(seed)).tips[:1]:
                feedback_record(user=self.alice, tip_id=tip.pk, action="accepted")
        # The other tips' rewards close with their window (silence), as finalize_rewards closes them.
        rewards_finalize_expired(now=timezone.now() + timedelta(hours=settings.TIPS_REWARD_WINDOW_H + 1))
        left_out = [c for r in TipRequest.objects.all() for c in r.candidates if "not_offered_at" in c]
        self.assertGreater(len(left_out), 10)  # slates left candidates out of their later positions
        # The logging policy evaluated on its own logs: every weight is exactly one, at every position.
        evaluation = policy_evaluation(policy=serving_policy(), positions="all")
        self.assertEqual((evaluation.rows, evaluation.skipped), (TipScore.objects.count(), {}))
        self.assertGreater(evaluation.rows, 60)
        for position in evaluation.diagnostics:
            self.assertAlmostEqual(position.mean_weight.value, 1.0, places=12)
        self.assertAlmostEqual(evaluation.ips.value, evaluation.logged.value, places=12)
