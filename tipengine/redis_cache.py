"""Django's Redis cache backend: one redis client per connection pool, and a Redis outage read as misses."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

logger = logging.getLogger(__name__)

# How long a failed server is skipped before the next call tries it again (per process). A frozen server costs
# one socket timeout per RETRY interval, not one per cache call.
DEFAULT_RETRY_S = 2.0

# GET KEYS[1] and, only when it is there, add one to the counter KEYS[2] (a new counter lives ARGV[1] seconds):
# a cached token and its throttle window in one round trip (ADR 0098), atomic, and an unknown token counts nothing.
GET_AND_COUNT = """
local value = redis.call('GET', KEYS[1])
if not value then return {} end
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
return {value, count}
"""


class ReusingRedisCacheClient(RedisCacheClient):
    """Django builds a new `redis.Redis` for every cache call; with redis-py 5+ that costs about as much as
    the round trip itself (it rebuilds the response-callback table), and serving makes several calls per
    request. The client is only a thin, thread-safe handle on the pool, so one per pool is enough.
    """

    # Django's own (private, so django-stubs leave them out): the redis.Redis class and the pool for a read/write.
    _client: type[redis.Redis]
    _get_connection_pool: Callable[[bool], redis.ConnectionPool]
    _serializer: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}
        self._get_and_count: Any = None  # GET_AND_COUNT, registered: redis-py sends EVALSHA, loading it if missing

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client

    def count(self, key: str, timeout: int) -> int:
        # INCR and EXPIRE in one MULTI/EXEC: one round trip, and no other client's call between reading and writing.
        pipeline = self.get_client(key, write=True).pipeline(transaction=True)
        count, _ = pipeline.incr(key).expire(key, timeout).execute()
        return int(count)

    def get_and_count(self, key: str, counter: str, timeout: int) -> tuple[Any, int | None]:
        client = self.get_client(key, write=True)
        if self._get_and_count is None:
            self._get_and_count = client.register_script(GET_AND_COUNT)
        found = self._get_and_count(keys=[key, counter], args=[timeout], client=client)
        return (self._serializer.loads(found[0]), int(found[1])) if found else (None, None)


class _Outage:
    """Per-process memory of a failed server: when to try it again, and the deletes it missed meanwhile."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down_until = 0.0
        self.error = ""
        self.missed_deletes: set[str] = set()


_outages: dict[str, _Outage] = {}
_outages_lock = threading.Lock()


def _outage_for(location: str) -> _Outage:
    with _outages_lock:
        return _outages.setdefault(location, _Outage())


class ReusingRedisCache(RedisCache):
    """settings.CACHES backend: `tipengine.redis_cache.ReusingRedisCache`.

    Redis is a cache, never the system of record: when it fails (refused, reset, frozen past the socket
    timeout) a read is a miss and a write is skipped, so callers fall back to PostgreSQL. A delete that could
    not be sent is replayed when the server answers again, so a revoked token or a changed row never comes
    back from a cache that was only unreachable. OPTIONS["RETRY_S"] sets how long a failed server is skipped.
    """

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS", {}))
        self.retry_s = float(options.pop("RETRY_S", DEFAULT_RETRY_S))
        super().__init__(server, {**params, "OPTIONS": options})
        self._class = ReusingRedisCacheClient
        self._outage = _outage_for(str(server))

    def ping(self) -> None:
        """Raise the server's error unless it answers now (readiness probes; ignores the skip window)."""
        self._cache.get_client(write=True).ping()
        self._recovered()

    def unavailable_reason(self) -> str:
        """Return why the server is being skipped now, or '' when it is not."""
        return self._outage.error if time.monotonic() < self._outage.down_until else ""

    def count(self, key: Any, timeout: int, version: int | None = None) -> int | None:
        """Add one to the counter at `key` and return its new value; a new counter starts at 1 and lives `timeout`
        seconds. Atomic across processes (throttles). None while the server cannot be reached."""
        made = self.make_and_validate_key(key, version=version)
        return self._guarded(None, cast(ReusingRedisCacheClient, self._cache).count, made, timeout)

    def get_and_count(self, key: Any, counter: Any, timeout: int, version: int | None = None) -> tuple[Any, int | None]:
        """Return the value at `key` (None when missing) and, when it is there, the counter at `counter` after adding
        one to it (a new counter lives `timeout` seconds), in one atomic round trip. (None, None) while the server
        cannot be reached, and None for the count when `key` is missing: nothing is counted then."""
        made = self.make_and_validate_key(key, version=version)
        made_counter = self.make_and_validate_key(counter, version=version)
        client = cast(ReusingRedisCacheClient, self._cache)
        return self._guarded((None, None), client.get_and_count, made, made_counter, timeout)

    def _call(self, name: str, fallback: Any, *args: Any, **kwargs: Any) -> Any:
        return self._guarded(fallback, getattr(super(), name), *args, **kwargs)

    def _guarded(self, fallback: Any, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        outage = self._outage
        if time.monotonic() < outage.down_until:
            return fallback
        try:
            result = call(*args, **kwargs)
        except redis.RedisError as exc:
            self._failed(exc)
            return fallback
        if outage.error:
            self._recovered()
        return result

    def _failed(self, exc: redis.RedisError) -> None:
        outage = self._outage
        with outage.lock:
            if not outage.error:
                logger.warning("cache unavailable, serving without it for now: %s: %s", type(exc).__name__, exc)
            outage.error = f"{type(exc).__name__}: {exc}"[:300]
            outage.down_until = time.monotonic() + self.retry_s

    def _recovered(self) -> None:
        outage = self._outage
        with outage.lock:
            missed, outage.missed_deletes = list(outage.missed_deletes), set()
            was_down, outage.error, outage.down_until = outage.error, "", 0.0
        if missed:
            try:  # raw keys, already made: straight to the client
                self._cache.delete_many(missed)
            except redis.RedisError as exc:
                with outage.lock:
                    outage.missed_deletes.update(missed)
                self._failed(exc)
                return
        if was_down:
            logger.warning("cache available again (%d missed deletes replayed)", len(missed))

    def _remember_deletes(self, keys: list[str], version: int | None) -> None:
        with self._outage.lock:
            self._outage.missed_deletes.update(self.make_and_validate_key(k, version=version) for k in keys)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._call("add", False, key, value, timeout, version)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._call("get", default, key, default, version)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        self._call("set", None, key, value, timeout, version)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._call("touch", False, key, timeout, version)

    def delete(self, key: Any, version: int | None = None) -> bool:
        result = self._call("delete", None, key, version)
        if result is None:
            self._remember_deletes([key], version)
        return bool(result)

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return self._call("get_many", {}, keys, version)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._call("has_key", False, key, version)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        missing = object()
        result = self._call("incr", missing, key, delta, version)
        if result is missing:  # a counter that cannot be read is a counter that does not exist
            raise ValueError(f"Key '{key}' not found (cache unavailable)")
        return result

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list[Any]:
        if not data:
            return []
        failed = self._call("set_many", None, data, timeout, version)
        return list(data) if failed is None else failed

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        keys = list(keys)
        if not keys:
            return
        sent = self._call("delete_many", False, keys, version)
        if sent is False:
            self._remember_deletes(keys, version)

    def clear(self) -> None:
        self._call("clear", None)
