"""Redis is a cache and a broker, never a single point of failure: killed or frozen, answers keep coming."""

import signal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from recommender.models import FeedbackEvent, TipScore
from recommender.tests.serving_utils import connect_sample, sample_pool, store_pool
from testsupport.cases import api_client
from testsupport.faults import PrivateRedis, wait_until
from tipengine.redis_cache import ReusingRedisCache

pytestmark = pytest.mark.django_db

TIPS = "/api/v1/tips/"


def redis_cache_settings(server: PrivateRedis) -> dict:
    options = {"socket_connect_timeout": 0.25, "socket_timeout": 0.25, "RETRY_S": 0.5}
    backend = "tipengine.redis_cache.ReusingRedisCache"
    return {"default": {"BACKEND": backend, "LOCATION": server.url(), "OPTIONS": options}}


@pytest.fixture
def redis_cache(private_redis):
    with override_settings(CACHES=redis_cache_settings(private_redis)):
        cache.clear()
        yield private_redis


@pytest.fixture
def served_alice(alice):
    connect_sample(alice)
    store_pool(alice, sample_pool(6))
    return alice


def call_with_deadline(call, deadline_s: float):
    """Run `call`; fail (rather than hang the suite) when it has not answered within `deadline_s`."""

    def expire(signum, frame):
        raise AssertionError(f"no answer within {deadline_s} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, deadline_s)
    try:
        return call()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_it_serves_tips_and_records_feedback_while_redis_is_killed(redis_cache, served_alice):
    client = api_client(served_alice)
    response = client.get(TIPS)  # the token and serving state are cached now
    assert response.status_code == 200
    assert "cache_unavailable" not in [d["code"] for d in response.json()["degraded"]]
    redis_cache.kill()

    response = client.get(TIPS)
    assert response.status_code == 200, response.content
    assert "cache_unavailable" in [d["code"] for d in response.json()["degraded"]]
    tip_id = response.json()["tips"][0]["id"]
    feedback = client.post(f"/api/v1/tips/{tip_id}/feedback/", {"action": "accepted"}, format="json")
    assert feedback.status_code == 201, feedback.content
    assert FeedbackEvent.objects.filter(tip_id=tip_id, action="accepted").count() == 1


def test_a_serve_while_redis_is_killed_reads_its_state_in_five_statements_and_honours_cool_downs(
    redis_cache, served_alice
):
    client = api_client(served_alice)
    dismissed = client.get(TIPS).json()["tips"][0]
    assert client.post(f"/api/v1/tips/{dismissed['id']}/feedback/", {"action": "dismissed"}, format="json").status_code
    redis_cache.kill()
    assert client.get(TIPS).status_code == 200  # the first call meets the outage

    with CaptureQueriesContext(connection) as queries:
        response = client.get(TIPS, {"limit": 10})
    assert response.status_code == 200
    # The token and its user, the time zone, the pool, the integration, then the cool-downs with the user's and the
    # global arm statistics in one statement; then the slate's one write.
    assert len(queries) == 5 + 1, [q["sql"][:80] for q in queries]
    served = {(tip["kind"], tip["title"]) for tip in response.json()["tips"]}
    assert (dismissed["kind"], dismissed["title"]) not in served  # still cooling down, read from PostgreSQL


def test_it_still_refuses_a_bad_token_while_redis_is_killed(redis_cache, served_alice):
    redis_cache.kill()
    client = api_client(None)
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get(TIPS).status_code == 401


def test_a_frozen_redis_holds_a_request_for_one_short_timeout_only(redis_cache, served_alice):
    client = api_client(served_alice)
    assert client.get(TIPS).status_code == 200
    redis_cache.freeze()
    try:
        # Without socket timeouts each cache call would wait for the frozen server forever.
        response = call_with_deadline(lambda: client.get(TIPS), deadline_s=5)
        assert response.status_code == 200
        assert TipScore.objects.filter(user=served_alice).count() > 3
    finally:
        redis_cache.thaw()


def test_a_token_deleted_while_redis_was_down_stays_revoked_when_it_returns(redis_cache, served_alice):
    client = api_client(served_alice)
    assert client.get(TIPS).status_code == 200  # token -> user now cached
    redis_cache.freeze()
    try:
        Token.objects.filter(user=served_alice).delete()  # the cache delete cannot reach the server
    finally:
        redis_cache.thaw()
    # Once the server answers again, the missed delete is replayed before anything is read from it.
    wait_until(lambda: _cache_answers(), timeout_s=10, what="the cache to answer again")
    assert client.get(TIPS).status_code == 401


def _cache_answers() -> bool:
    cache.set("probe", 1)
    return cache.get("probe") == 1


def test_readyz_names_the_cache_when_redis_is_killed_and_recovers_without_restart(redis_cache, client, caplog):
    assert client.get("/readyz").status_code == 200
    redis_cache.kill()
    response = client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["message"] == "Not ready: cache failed."
    assert error["details"]["checks"]["cache"] == {"ok": False}
    assert error["details"]["checks"]["database"]["ok"]
    assert "readiness check cache unavailable: ConnectionError" in caplog.text  # the reason: to the log, not the caller

    redis_cache.start()
    assert client.get("/readyz").status_code == 200


def test_readyz_answers_while_redis_is_frozen(redis_cache, client):
    redis_cache.freeze()
    try:
        response = call_with_deadline(lambda: client.get("/readyz"), deadline_s=5)
    finally:
        redis_cache.thaw()
    assert response.status_code == 503
    assert response.json()["error"]["details"]["checks"]["cache"] == {"ok": False}


def test_the_cache_reads_a_dead_server_as_misses_and_skips_it_for_a_while(private_redis):
    backend = ReusingRedisCache(private_redis.url(), {"OPTIONS": {"RETRY_S": 60, "socket_connect_timeout": 0.25}})
    backend.set("k", "v")
    private_redis.kill()
    assert backend.get("k", "default") == "default"
    assert backend.add("k", "w") is False
    assert "ConnectionError" in backend.unavailable_reason()
    with pytest.raises(ValueError):
        backend.incr("k")
