"""A user's prompt and pool expiry speak their own time zone (from their Todoist account)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import TestCase, override_settings

from generation.models import CandidatePool
from generation.services import pool_refresh
from generation.tests.utils import SAMPLE_TASKS
from integrations.models import AuthKind, Integration
from testsupport.cases import ActorsMixin
from testsupport.llm.gateway import FakeGatewayMixin

BERLIN = ZoneInfo("Europe/Berlin")


@override_settings(GENERATION_POOL_TTL_S=3 * 24 * 3600)  # so the pool lives until local midnight
@pytest.mark.clock
class BerlinUserTests(FakeGatewayMixin, ActorsMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        Integration.objects.create(user=self.alice, auth_kind=AuthKind.PERSONAL, time_zone="Europe/Berlin")

    def test_a_berlin_users_prompt_speaks_berlin_time(self):
        days = {datetime.now(BERLIN).date()}
        pool_refresh(user=self.alice, tasks=SAMPLE_TASKS)
        days.add(datetime.now(BERLIN).date())  # the refresh may straddle midnight
        prompt = self.fake.chat_requests[0].messages[1]["content"]
        self.assertIn("time zone Europe/Berlin", prompt)
        self.assertTrue(any(f"Today is {day.isoformat()}" in prompt for day in days), prompt[:200])

    def test_a_berlin_users_pool_expires_at_berlin_midnight(self):
        pool_refresh(user=self.alice, tasks=SAMPLE_TASKS)
        pool = CandidatePool.objects.get(user=self.alice)
        generated = pool.generated_at.astimezone(BERLIN)
        midnight = datetime.combine(generated.date() + timedelta(days=1), time.min, tzinfo=BERLIN)
        self.assertEqual(pool.expires_at, midnight)

    def test_a_user_without_a_known_zone_gets_the_servers(self):
        pool_refresh(user=self.bob, tasks=SAMPLE_TASKS)
        self.assertIn("time zone UTC", self.fake.chat_requests[0].messages[1]["content"])
