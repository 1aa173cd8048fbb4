"""Per-user throttles on tips, feedback and history: 429 in the error shape with Retry-After, and no work done."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import override_settings

from recommender.models import FeedbackEvent, TipScore
from recommender.tests.feedback_support import serve
from recommender.tests.serving_utils import connect_sample, sample_pool, store_pool

pytestmark = pytest.mark.django_db

RATES = {"tips": "2/min", "feedback": "2/min", "history": "2/min"}


@pytest.fixture(autouse=True)
def _early_in_a_minute():
    """Each test starts a second into a minute, so all its calls fall in one fixed window."""
    with time_machine.travel(datetime(2026, 6, 15, 9, 30, 1, tzinfo=UTC), tick=True):
        yield


def assert_throttled(response) -> None:
    assert response.status_code == 429, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert int(response.headers["Retry-After"]) > 0
    assert error["details"]["retry_after_s"] > 0


@override_settings(API_THROTTLE_RATES=RATES)
def test_a_throttled_tips_call_answers_429_and_writes_no_rows(api, alice, bob):
    connect_sample(alice)
    store_pool(alice, sample_pool(6))
    for _ in range(2):
        assert api(alice).get("/api/v1/tips/").status_code == 200
    rows = TipScore.objects.count()
    assert_throttled(api(alice).get("/api/v1/tips/"))
    assert TipScore.objects.count() == rows
    assert api(bob).get("/api/v1/tips/").status_code == 200  # per user: bob has his own allowance


@override_settings(API_THROTTLE_RATES=RATES)
def test_feedback_is_throttled_per_user_and_records_nothing_when_throttled(api, alice):
    tips = serve(alice) + serve(alice) + serve(alice)
    for tip in tips[:2]:
        assert (
            api(alice).post(f"/api/v1/tips/{tip.pk}/feedback/", {"action": "accepted"}, format="json").status_code
            == 201
        )
    assert_throttled(api(alice).post(f"/api/v1/tips/{tips[2].pk}/feedback/", {"action": "accepted"}, format="json"))
    assert FeedbackEvent.objects.count() == 2


@override_settings(API_THROTTLE_RATES=RATES)
def test_history_is_throttled(api, alice):
    for _ in range(2):
        assert api(alice).get("/api/v1/tips/history/").status_code == 200
    assert_throttled(api(alice).get("/api/v1/tips/history/"))
