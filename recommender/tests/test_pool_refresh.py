"""Pool refreshes the recommender drives: the Celery task, the feedback it passes, and refresh-ahead by beat."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from generation.breaker import gateway_breaker
from generation.errors import CircuitOpen
from generation.models import CandidatePool
from generation.selectors import fresh_pool, pools_due_for_refresh
from generation.services import pool_expiry, pool_refresh
from generation.tests.utils import SAMPLE_TASKS
from integrations.services.open_tasks import open_tasks_fetch
from integrations.services.tokens import integration_connect_sample
from recommender.models import FeedbackEvent, TipRequest, TipScore
from recommender.selectors.history import served_since
from recommender.services.pools import tip_pool_refresh
from recommender.tasks import refresh_candidates, refresh_expiring_pools
from testsupport.cases import BaseTestCase
from testsupport.llm.fake_ollama import Reply, tip, tips_json
from testsupport.llm.gateway import FakeGatewayMixin


class RefreshAheadTests(FakeGatewayMixin, BaseTestCase):
    def setUp(self):
        super().setUp()
        self.fake.default = Reply.text(tips_json([tip("plan"), tip("wellbeing")]))
        self.addCleanup(setattr, self.fake, "default", self.fake.default)
        self.now = timezone.now()

    def pool(self, user, expires_in: timedelta) -> CandidatePool:
        return CandidatePool.objects.create(
            user=user,
            candidates=[],
            llm_model="m",
            prompt_version="p",
            context_fingerprint="old",
            expires_at=self.now + expires_in,
        )

    def served(self, user, ago: timedelta) -> None:
        TipRequest.objects.create(user=user, policy="egreedy", created_at=self.now - ago)

    def due(self) -> list[int]:
        return pools_due_for_refresh(
            now=self.now,
            horizon=timedelta(minutes=30),
            active=served_since(since=self.now - timedelta(days=7)),
            limit=10,
        )

    def test_it_picks_active_users_whose_pool_expires_soon(self):
        self.pool(self.alice, timedelta(minutes=10))
        self.served(self.alice, timedelta(hours=1))
        self.pool(self.bob, timedelta(hours=3))  # not expiring soon
        self.served(self.bob, timedelta(hours=1))
        self.pool(self.charlie, timedelta(minutes=5))  # expiring, but not served for weeks
        self.served(self.charlie, timedelta(days=30))
        self.assertEqual(self.due(), [self.alice.pk])

    @pytest.mark.clock
    def test_it_regenerates_an_expiring_pool_ahead_of_time(self):
        integration_connect_sample(user=self.alice)
        self.served(self.alice, timedelta(hours=1))
        self.pool(self.alice, timedelta(minutes=10))
        self.assertEqual(refresh_expiring_pools(), 1)
        pool = CandidatePool.objects.get(user=self.alice)
        # A new pool, with the lifetime of one made now: the TTL, or less in the last hours before local midnight.
        self.assertGreaterEqual(pool.generated_at, self.now)
        self.assertEqual(pool.expires_at, pool_expiry(generated_at=pool.generated_at))
        self.assertEqual([c.kind for c in fresh_pool(user=self.alice)], ["plan", "wellbeing"])
        self.assertEqual(len(self.fake.chat_requests), 1)

    def test_it_passes_recent_feedback_into_the_prompt(self):
        request = TipRequest.objects.create(user=self.alice, policy="egreedy")
        score = TipScore.objects.create(
            request=request,
            user=self.alice,
            position=0,
            tip_kind="batch",
            source="llm",
            title="t",
            score=0.5,
            propensity=1,
        )
        FeedbackEvent.objects.create(user=self.alice, tip=score, action="dismissed")
        tip_pool_refresh(user=self.alice, tasks=SAMPLE_TASKS)
        self.assertIn('"batch": {"dismissed": 1}', self.fake.chat_requests[0].last_user_message)


@override_settings(GENERATION_BREAKER_THRESHOLD=2)
@pytest.mark.clock
class RefreshCandidatesTaskTests(FakeGatewayMixin, BaseTestCase):
    """The Celery task end to end: the user's tasks (the bundled sample set), the real router, the fake model."""

    def setUp(self):
        super().setUp()
        integration_connect_sample(user=self.alice)
        self.fake.default = Reply.text(tips_json([tip("plan"), tip("wellbeing")]))  # task-free tips fit any set
        self.addCleanup(setattr, self.fake, "default", self.fake.default)

    def test_it_refreshes_the_pool_from_the_users_tasks_and_reports_ok(self):
        self.assertEqual(refresh_candidates(self.alice.pk), "ok")
        self.assertEqual([c.kind for c in fresh_pool(user=self.alice)], ["plan", "wellbeing"])
        sample_task = open_tasks_fetch(user=self.alice)[0]
        self.assertIn(sample_task.content[:40], self.fake.chat_requests[0].last_user_message)
        self.assertEqual(refresh_candidates(self.alice.pk), "ok")  # idempotent: nothing changed
        self.assertEqual(len(self.fake.chat_requests), 1)

    def test_it_fails_fast_with_the_gateway_down_and_opens_the_breaker(self):
        self.fake.script(*[Reply.failure(503)] * 2)
        results = [refresh_candidates(self.alice.pk) for _ in range(4)]
        self.assertEqual(results, ["gateway_unavailable", "gateway_unavailable", "circuit_open", "circuit_open"])
        self.assertEqual(len(self.fake.chat_requests), 2)  # once open, no call leaves the process
        self.assertTrue(gateway_breaker().is_open())
        self.assertFalse(CandidatePool.objects.exists())

    def test_it_reports_a_user_without_tasks_and_a_missing_user_without_raising(self):
        self.assertEqual(refresh_candidates(self.bob.pk), "tasks_unavailable")  # bob never connected Todoist
        self.assertEqual(refresh_candidates(999_999), "no_user")
        self.assertEqual(self.fake.chat_requests, [])

    def test_it_skips_the_tasks_read_while_the_breaker_is_open(self):
        for _ in range(2):
            gateway_breaker().record_failure()
        with self.assertRaises(CircuitOpen):
            pool_refresh(user=self.bob)  # bob has no Todoist: reading tasks would have failed differently

    def test_it_recovers_once_the_gateway_is_back(self):
        self.fake.script(Reply.failure(502))
        self.assertEqual(refresh_candidates(self.alice.pk), "gateway_unavailable")
        self.assertEqual(refresh_candidates(self.alice.pk), "ok")
        self.assertFalse(gateway_breaker().is_open())
