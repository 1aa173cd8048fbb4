"""The user's own time zone (their Todoist account's) decides what "today" and "overdue" mean for them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from django.test import TestCase

from integrations.models import AuthKind, Integration
from integrations.todoist.types import TodoistTask
from recommender.pipeline import user_now
from recommender.task_rules import rule_candidates
from testsupport.cases import ActorsMixin

# 23:30 in London and UTC is already half past midnight, the next day, in Berlin.
LATE_EVENING_UTC = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
PASSPORT = TodoistTask(id="t1", content="Renew the passport", priority=4, due_date=date(2026, 3, 10))


class UserTimeZoneTests(ActorsMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        Integration.objects.create(user=self.alice, auth_kind=AuthKind.PERSONAL, time_zone="Europe/Berlin")

    def do_now_rationale(self, user) -> str:
        tips = rule_candidates([PASSPORT], now=user_now(user, LATE_EVENING_UTC))
        return next(t.rationale for t in tips if t.kind == "do_now")

    def test_a_berlin_users_day_ends_at_berlin_midnight(self):
        self.assertEqual(user_now(self.alice, LATE_EVENING_UTC).tzinfo, ZoneInfo("Europe/Berlin"))
        self.assertEqual(user_now(self.alice, LATE_EVENING_UTC).date(), date(2026, 3, 11))
        self.assertIn("1 day overdue", self.do_now_rationale(self.alice))

    def test_a_user_without_a_known_zone_gets_the_servers(self):
        self.assertEqual(user_now(self.bob, LATE_EVENING_UTC).date(), date(2026, 3, 10))  # TIME_ZONE is UTC
        self.assertIn("due today", self.do_now_rationale(self.bob))
