"""The circuit breaker lives in the shared cache (Redis in production and CI)."""

import redis
from django.conf import settings
from django.core.cache import cache
from django.test import SimpleTestCase

from generation.breaker import CircuitBreaker
from generation.errors import CircuitOpen
from testsupport.cases import require_service


def breaker() -> CircuitBreaker:
    # A fresh object each time: state must come from the cache, as in another process.
    return CircuitBreaker(name="test", threshold=3, cooldown_s=60, window_s=60)


def end_cooldown() -> None:
    """What the cache does by itself when the cool-down TTL runs out."""
    cache.delete(breaker()._key("open_until"))


class CircuitBreakerTests(SimpleTestCase):
    def setUp(self):
        breaker().reset()

    def test_it_stores_its_state_in_redis(self):
        require_service("redis", bool(settings.REDIS_URL), "set REDIS_URL so the breaker is shared across processes")
        for _ in range(3):
            breaker().record_failure()
        # Another process sees the open breaker: read it straight from Redis, not through this cache object.
        raw = redis.Redis.from_url(settings.REDIS_URL)
        self.assertEqual(raw.exists(cache.make_key(breaker()._key("open_until"))), 1)

    def test_it_opens_after_the_threshold_and_refuses_calls(self):
        for _ in range(2):
            breaker().record_failure()
        breaker().before_call()  # still closed after two failures
        breaker().record_failure()
        self.assertTrue(breaker().is_open())
        with self.assertRaises(CircuitOpen) as caught:
            breaker().before_call()
        self.assertLessEqual(caught.exception.details["retry_after_s"], 60)

    def test_it_forgets_failures_after_a_success(self):
        for _ in range(2):
            breaker().record_failure()
        breaker().record_success()
        breaker().record_failure()
        breaker().before_call()

    def test_it_lets_one_probe_through_after_the_cooldown(self):
        for _ in range(3):
            breaker().record_failure()
        end_cooldown()
        breaker().before_call()  # the probe
        with self.assertRaises(CircuitOpen):
            breaker().before_call()  # a second caller while the probe runs

    def test_it_closes_when_the_probe_succeeds(self):
        for _ in range(3):
            breaker().record_failure()
        end_cooldown()
        breaker().before_call()
        breaker().record_success()
        breaker().before_call()
        breaker().before_call()

    def test_it_reopens_at_once_when_the_probe_fails(self):
        for _ in range(3):
            breaker().record_failure()
        end_cooldown()
        breaker().before_call()
        breaker().record_failure()  # one failure is enough in half-open
        self.assertTrue(breaker().is_open())
