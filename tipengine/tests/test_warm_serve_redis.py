"""What a warm serve asks Redis: the token and its throttle count in one script call, the serving state in one MGET
(ADR 0098); an unknown token counts nothing."""

import pytest
import redis
from django.core.cache import cache
from django.test import override_settings

from generation.selectors import fresh_pool
from integrations.services.open_tasks import open_tasks_fetch
from recommender.tests.serving_utils import connect_sample, sample_pool, store_pool
from testsupport.cases import api_client
from testsupport.faults import PrivateRedis

pytestmark = pytest.mark.django_db

TIPS = "/api/v1/tips/"


@pytest.fixture
def server(private_redis):
    location = {"BACKEND": "tipengine.redis_cache.ReusingRedisCache", "LOCATION": private_redis.url()}
    with override_settings(CACHES={"default": location}):
        cache.clear()
        yield private_redis


def commands_during(server: PrivateRedis, call) -> dict[str, int]:
    """The commands the server ran during `call()`, by name, with how many times each ran (a script's own included)."""
    direct = redis.Redis.from_url(server.url())
    direct.config_resetstat()
    call()
    stats = direct.info("commandstats")
    counted = {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}
    return {name: calls for name, calls in counted.items() if not name.startswith(("info", "config"))}


def test_a_warm_serve_asks_redis_twice(server, alice):
    connect_sample(alice)
    store_pool(alice, sample_pool(6))
    client = api_client(alice)
    assert client.get(TIPS).status_code == 200  # the token and everything serving reads are cached now
    responses = []
    commands = commands_during(server, lambda: responses.append(client.get(TIPS)))
    assert responses[0].status_code == 200
    # Two round trips: the script (its GET of the token, its INCR of the window's counter) and the prefetch's MGET.
    assert commands == {"evalsha": 1, "get": 1, "incr": 1, "mget": 1}


def test_an_unknown_token_is_refused_and_counts_nothing(server, alice):
    client = api_client(None)
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert client.get(TIPS).status_code == 401
    assert redis.Redis.from_url(server.url()).keys("*throttle*") == []


def test_the_pool_and_the_tasks_read_back_from_the_cache_as_they_were_stored(server, alice):
    connect_sample(alice)
    store_pool(alice, sample_pool(6))
    from_database = fresh_pool(user=alice), open_tasks_fetch(user=alice)
    from_cache = fresh_pool(user=alice), open_tasks_fetch(user=alice)
    assert from_cache == from_database
    assert [c.features for c in from_cache[0]] == [c.features for c in from_database[0]]  # not compared by ==
