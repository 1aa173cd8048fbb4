"""Beat refreshes the pools of active users before they expire, so requests keep finding them fresh."""

from datetime import timedelta

from django.utils import timezone

from generation.models import CandidatePool
from generation.selectors import fresh_pool, pools_due_for_refresh
from generation.tasks import refresh_expiring_pools
from generation.testing.fake_ollama import Reply, tip, tips_json
from generation.testing.gateway import FakeGatewayMixin
from integrations.services import integration_connect_sample
from recommender.models import TipRequest
from tipengine.testing import BaseTestCase


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
            now=self.now, horizon=timedelta(minutes=30), active_since=self.now - timedelta(days=7), limit=10
        )

    def test_it_picks_active_users_whose_pool_expires_soon(self):
        self.pool(self.alice, timedelta(minutes=10))
        self.served(self.alice, timedelta(hours=1))
        self.pool(self.bob, timedelta(hours=3))  # not expiring soon
        self.served(self.bob, timedelta(hours=1))
        self.pool(self.charlie, timedelta(minutes=5))  # expiring, but not served for weeks
        self.served(self.charlie, timedelta(days=30))
        self.assertEqual(self.due(), [self.alice.pk])

    def test_it_regenerates_an_expiring_pool_ahead_of_time(self):
        integration_connect_sample(user=self.alice)
        self.served(self.alice, timedelta(hours=1))
        self.pool(self.alice, timedelta(minutes=10))
        self.assertEqual(refresh_expiring_pools(), 1)
        pool = CandidatePool.objects.get(user=self.alice)
        self.assertGreater(pool.expires_at, self.now + timedelta(minutes=30))
        self.assertEqual([c.kind for c in fresh_pool(user=self.alice)], ["plan", "wellbeing"])
        self.assertEqual(len(self.fake.chat_requests), 1)
