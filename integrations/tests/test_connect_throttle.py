"""The Todoist connect throttle under concurrency: 100 simultaneous attempts for one user pass at most
TODOIST_CONNECT_RATE, counted in real Redis in the API's atomic fixed window (ADR 0096)."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.conf import settings
from django.test import override_settings

from integrations.api.connections import ConnectThrottle, TodoistCallbackApi, TodoistTokenApi
from testsupport.cases import require_service
from tipengine.tests.test_throttles_atomic import request_by, simultaneous_calls

pytestmark = pytest.mark.django_db

CALLS = 100
RATE = 30  # TODOIST_CONNECT_RATE's default: 30/hour
# 30 min 20 s into an hour: every call falls in one window, 29 min 40 s before the next.
INSTANT = datetime(2026, 6, 15, 9, 30, 20, tzinfo=UTC)


@override_settings(TODOIST_CONNECT_RATE=f"{RATE}/hour")
def test_100_simultaneous_connect_attempts_for_one_user_pass_at_most_the_rate(alice, bob):
    require_service("Redis", bool(settings.REDIS_URL), "the shared counter")
    with time_machine.travel(INSTANT, tick=False):
        refused = simultaneous_calls(alice, CALLS, throttle_class=ConnectThrottle, view=TodoistTokenApi())
        assert len(refused) == CALLS - RATE
        assert {throttle.wait() for throttle in refused} == {1780.0}  # Retry-After: the rest of the hour
        # The OAuth callback shares the count; bob has his own.
        assert not ConnectThrottle().allow_request(request_by(alice), TodoistCallbackApi())
        assert ConnectThrottle().allow_request(request_by(bob), TodoistCallbackApi())
    with time_machine.travel(INSTANT.replace(hour=10, minute=0, second=0), tick=False):
        assert ConnectThrottle().allow_request(request_by(alice), TodoistTokenApi())  # the next hour starts afresh
