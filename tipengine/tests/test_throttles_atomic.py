"""The throttle under concurrency: 100 simultaneous calls for one user pass at most the rate, counted in real Redis in
one atomic round trip; with Redis down calls pass instead of failing."""

import threading
from datetime import UTC, datetime

import pytest
import redis
import time_machine
from django.conf import settings
from django.test import override_settings
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from testsupport.cases import require_service
from tipengine.redis_cache import ReusingRedisCache
from tipengine.throttles import UserScopeThrottle

pytestmark = pytest.mark.django_db

CALLS = 100
RATE = 60  # settings.API_THROTTLE_RATES["tips"]: 60/min
# 20 s into a minute: every call falls in one window, 40 s before the next.
INSTANT = datetime(2026, 6, 15, 9, 30, 20, tzinfo=UTC)


class TipsView:
    throttle_scope = "tips"


def request_by(user) -> Request:
    request = Request(APIRequestFactory().get("/api/v1/tips/"))
    request.user = user
    return request


def simultaneous_calls(
    user, calls: int, *, throttle_class: type[UserScopeThrottle] = UserScopeThrottle, view: object = None
) -> list[UserScopeThrottle]:
    """Run `calls` throttle checks for `user` on as many threads, released at once; return the refused ones."""
    start = threading.Barrier(calls)
    refused: list[UserScopeThrottle] = []

    def call() -> None:
        throttle = throttle_class()
        request = request_by(user)
        start.wait()
        if not throttle.allow_request(request, view or TipsView()):
            refused.append(throttle)

    threads = [threading.Thread(target=call) for _ in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return refused


@override_settings(API_THROTTLE_RATES={"tips": f"{RATE}/min"})
def test_100_simultaneous_calls_for_one_user_pass_at_most_the_rate(alice, bob):
    require_service("Redis", bool(settings.REDIS_URL), "the shared counter")
    with time_machine.travel(INSTANT, tick=False):
        refused = simultaneous_calls(alice, CALLS)
        assert len(refused) == CALLS - RATE
        assert {throttle.wait() for throttle in refused} == {40.0}  # Retry-After: the rest of the minute
        assert UserScopeThrottle().allow_request(request_by(bob), TipsView())  # bob has his own count
    with time_machine.travel(INSTANT.replace(minute=31, second=0), tick=False):
        assert UserScopeThrottle().allow_request(request_by(alice), TipsView())  # the next window starts afresh


@override_settings(API_THROTTLE_RATES={"tips": "1/min", "history": "1/min"})
def test_with_redis_down_calls_pass_instead_of_failing(alice, api, private_redis):
    redis_cache = {
        "BACKEND": "tipengine.redis_cache.ReusingRedisCache",
        "LOCATION": private_redis.url(),
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
    with override_settings(CACHES={"default": redis_cache}):
        assert UserScopeThrottle().allow_request(request_by(alice), TipsView())
        assert not UserScopeThrottle().allow_request(request_by(alice), TipsView())  # counted: over 1/min
        private_redis.kill()
        assert UserScopeThrottle().allow_request(request_by(alice), TipsView())
        assert [api(alice).get("/api/v1/tips/history/").status_code for _ in range(3)] == [200] * 3


def test_the_redis_cache_counts_in_one_atomic_round_trip(private_redis):
    counter = ReusingRedisCache(private_redis.url(), {})
    assert [counter.count("hits", 60) for _ in range(3)] == [1, 2, 3]
    assert 59 <= redis.Redis.from_url(private_redis.url()).ttl(counter.make_key("hits")) <= 60
    private_redis.kill()
    assert counter.count("hits", 60) is None
