"""The Redis cache backend: the same client for every call, and still a working cache."""

import redis
from django.core.cache import caches
from django.test import SimpleTestCase, override_settings

from testsupport.cases import require_service
from tipengine.redis_cache import ReusingRedisCache

LOCATION = "redis://127.0.0.1:6379/15"


def redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(LOCATION, socket_connect_timeout=0.2).ping())
    except redis.RedisError:
        return False


@override_settings(CACHES={"default": {"BACKEND": "tipengine.redis_cache.ReusingRedisCache", "LOCATION": LOCATION}})
class ReusingRedisCacheTests(SimpleTestCase):
    def test_it_hands_out_one_client_per_server(self):
        backend = ReusingRedisCache(LOCATION, {})
        self.assertIs(backend._cache.get_client(write=True), backend._cache.get_client(write=False))

    def test_it_stores_and_reads_back(self):
        require_service("Redis", redis_up(), LOCATION)
        cache = caches["default"]
        cache.set("reuse-test", {"a": 1}, timeout=5)
        self.assertEqual(cache.get_many(["reuse-test", "missing"]), {"reuse-test": {"a": 1}})
        cache.delete("reuse-test")
        self.assertIsNone(cache.get("reuse-test"))
