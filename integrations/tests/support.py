"""Shared test support: a FakeTodoist per test class wired into settings, and a clock that never sleeps."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from cryptography.fernet import Fernet
from django.test import TestCase, TransactionTestCase, override_settings

from testsupport.cases import ActorsMixin
from testsupport.todoist.fake_todoist import FakeTodoist

TEST_KEY = Fernet.generate_key().decode()
CLIENT_SECRET = "test-client-secret"


def fast_todoist_settings(fake: FakeTodoist, **extra: Any) -> dict[str, Any]:
    """Settings that point tipengine at `fake`, with budgets small enough to keep failure tests quick."""
    return {
        "TODOIST_API_URL": fake.api_url,
        "TODOIST_OAUTH_URL": fake.oauth_url,
        "TODOIST_CLIENT_ID": fake.client_id,
        "TODOIST_CLIENT_SECRET": fake.client_secret,
        "TODOIST_TIMEOUT_S": 0.3,
        "TODOIST_BUDGET_S": 0.8,
        "TODOIST_MAX_RETRY_AFTER_S": 0.5,
        "TODOIST_MAX_ATTEMPTS": 3,
        "TODOIST_BACKOFF_BASE_S": 0.01,
        "TOKEN_ENCRYPTION_KEYS": [TEST_KEY],
        **extra,
    }


class FakeTodoistMixin:
    """Starts one FakeTodoist for the class; each test starts with no scripts, recorded requests or revocations."""

    fake: ClassVar[FakeTodoist]

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()  # type: ignore[misc]
        cls.fake = FakeTodoist(client_secret=CLIENT_SECRET).start()
        cls.addClassCleanup(cls.fake.stop)  # type: ignore[attr-defined]
        cls.enterClassContext(override_settings(**fast_todoist_settings(cls.fake)))  # type: ignore[attr-defined]

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        self.fake.clear_scripts()
        self.fake.reset_requests()
        self.fake.revoked.clear()


class TodoistTestCase(FakeTodoistMixin, ActorsMixin, TestCase):
    """A database test case with the actors and a fake Todoist."""


class TodoistTransactionTestCase(FakeTodoistMixin, ActorsMixin, TransactionTestCase):
    """For tests that need real commits (concurrency on PostgreSQL)."""


class StepClock:
    """A monotonic clock whose sleep() advances time instantly and records what was asked.

    Real time spent in HTTP calls still counts (the fake's slowness is real), so budgets stay meaningful.
    """

    def __init__(self) -> None:
        self.offset = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.offset += seconds
