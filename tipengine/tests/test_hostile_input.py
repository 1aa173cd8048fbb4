"""Hostile input gets a 4xx in the error shape, never a 500."""

import json

import pytest
from django.test import override_settings

from recommender.models import FeedbackEvent
from recommender.tests.feedback_support import serve

pytestmark = pytest.mark.django_db

HISTORY = "/api/v1/tips/history/"


@pytest.fixture
def tip(alice):
    return serve(alice)[0]


def feedback_url(tip) -> str:
    return f"/api/v1/tips/{tip.pk}/feedback/"


def post_raw(api, user, url: str, body: bytes):
    return api(user).generic("POST", url, body, content_type="application/json")


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    if code:
        assert error["code"] == code
    return error


@pytest.mark.parametrize("cursor", ["cD1hYmM=", "cD0tMQ==", "cD05OTk5OTk5OTk5OTk5OTk5OTk5OTk=", "not base64!", "%00"])
def test_it_answers_404_for_a_history_cursor_it_never_issued(api, alice, cursor):
    # p=abc, p=-1, p=a number beyond bigint, garbage
    assert_error(api(alice).get(HISTORY, {"cursor": cursor}), 404, "not_found")  # as DRF answers a forged one


def test_it_still_follows_the_cursors_it_issues(api, alice):
    for _ in range(3):
        serve(alice)
    first = api(alice).get(HISTORY, {"page_size": 2}).json()
    second = api(alice).get(first["next"])
    assert second.status_code == 200
    assert len(second.json()["results"]) == 1


def test_it_answers_400_for_json_nested_100000_deep(api, alice, tip):
    body = b"[" * 100_000 + b"]" * 100_000
    assert_error(post_raw(api, alice, feedback_url(tip), body), 400, "parse_error")


def test_it_answers_400_for_a_lone_surrogate_and_records_nothing(api, alice, tip):
    error = assert_error(post_raw(api, alice, feedback_url(tip), rb'{"action":"\ud800"}'), 400, "parse_error")
    json.dumps(error).encode("utf-8")  # the message itself is valid UTF-8
    assert not FeedbackEvent.objects.exists()


def test_it_accepts_a_proper_surrogate_pair(api, alice, tip):
    # "\ud83d\ude00" is one emoji: valid JSON and valid UTF-8, so only the choice is wrong.
    assert_error(post_raw(api, alice, feedback_url(tip), rb'{"action":"\ud83d\ude00"}'), 400, "invalid")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_it_answers_413_for_a_body_over_the_upload_limit(api, alice, tip):
    body = json.dumps({"action": "accepted", "pad": "x" * 2000}).encode()
    error = assert_error(post_raw(api, alice, feedback_url(tip), body), 413, "request_too_large")
    assert error["details"]["max_bytes"] == 1000


@pytest.mark.parametrize("page_size", ["0", "101", "null", "-1", "1.5", "٣"])
def test_it_answers_400_for_a_page_size_out_of_bounds_instead_of_serving_another(api, alice, page_size):
    error = assert_error(api(alice).get(HISTORY, {"page_size": page_size}), 400, "invalid")
    assert "page_size" in error["details"]["fields"]
