"""A database that cannot be reached answers 503 with Retry-After in the error shape, never a 500; an outage is logged
once when it starts and once when it ends, not on every request."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper
from django.http import HttpRequest, HttpResponse, JsonResponse
from psycopg_pool import PoolClosed

from tipengine.errors import DATABASE_UNAVAILABLE_ERRORS, error_body

logger = logging.getLogger(__name__)

PROBES = {"/healthz", "/readyz"}


def logged_already(response: HttpResponse) -> HttpResponse:
    """Mark an expected 503 as logged, so Django's request logger does not add an ERROR line for each one: the
    outage it answers is logged once per change of state (Dependency) instead."""
    response._has_been_logged = True  # type: ignore[attr-defined]  # what django.utils.log.log_response checks
    return response


class Dependency:
    """What this process knows of one dependency: up, or down since when and why.

    Each change is logged once, at WARNING (down, with the reason) and at INFO (up again, with how long it was
    down), however many requests meet the outage in between.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.down_since: float | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, exc: BaseException) -> None:
        """Record a failure; the first of an outage logs it, with the reason."""
        with self.lock:
            if self.down_since is not None:
                return
            self.down_since = time.monotonic()
        logger.warning("%s unavailable: %s: %s", self.name, type(exc).__name__, str(exc)[:300])

    def answered(self) -> None:
        """Record a success; the first after failures logs the recovery."""
        if self.down_since is None:  # the common case, without the lock
            return
        with self.lock:
            since, self.down_since = self.down_since, None
        if since is not None:
            logger.info("%s available again after %.1f s", self.name, time.monotonic() - since)


class Database(Dependency):
    """PostgreSQL: while it is down, requests answer 503 at once, and one request at a time tries it again.

    The try is a connection of its own, outside the pool, and it takes a refused connect a millisecond to fail.
    The pool would have come back by itself, but it retries a failed connect after 1, 2, 4, 8 ... s, so after an
    outage of 10 s it stayed empty for seconds after PostgreSQL was back, and its idle connections were the
    ones the server had cut. Once the try connects, the pool is mended (`_mend_pool`). A try runs
    DB_UNAVAILABLE_SKIP_S after the last failure, or at once from /readyz.
    """

    def __init__(self) -> None:
        super().__init__("database")
        self.retry_at = 0.0
        self.reconnect_lock = threading.Lock()

    def failed(self, exc: BaseException) -> None:
        if isinstance(exc.__cause__, PoolClosed):  # a request that was waiting on the pool reconnect() replaced
            return
        self.retry_at = time.monotonic() + settings.DB_UNAVAILABLE_SKIP_S
        super().failed(exc)

    def reconnect(self) -> None:
        """Connect to PostgreSQL outside the pool (raising psycopg's error when it cannot); once it answers, mend
        the pool and record the recovery. A no-op when the database is not down."""
        with self.reconnect_lock:
            if not self.down:
                return
            wrapper = connections[DEFAULT_DB_ALIAS]
            psycopg.connect(**wrapper.get_connection_params()).close()
            if isinstance(wrapper, PostgresWrapper) and wrapper.pool is not None:
                _mend_pool(wrapper)
            self.answered()

    def usable(self) -> bool:
        """Whether a request may use the database now: it is up, or it was down and this request reconnected."""
        if not self.down:
            return True
        if time.monotonic() < self.retry_at or self.reconnect_lock.locked():
            return False
        try:
            self.reconnect()
        except psycopg.Error as exc:
            self.failed(exc)
            return False
        return True


def _mend_pool(wrapper: PostgresWrapper) -> None:
    """Make the pool serve again once the server answers, without dropping connections that still work."""
    pool = wrapper.pool
    stats = pool.get_stats()
    if stats["pool_available"]:
        pool.check()  # idle connections: those the server cut are replaced at once, the others kept
    elif stats["pool_size"] < pool.max_size:
        wrapper.close_pool()  # none idle and room to grow: it is waiting out a reconnect delay; the next is fresh
    # Otherwise every connection is in use: a busy pool (its timeout was the failure), not a broken one.


database = Database()


def database_unavailable() -> JsonResponse:
    """Return the 503 a client gets while PostgreSQL is unreachable (logged by `database`, not per request)."""
    retry_after = settings.DB_UNAVAILABLE_RETRY_AFTER_S
    body = error_body(
        "database_unavailable",
        "The database is unavailable right now; retry shortly.",
        {"retry_after_s": retry_after},
    )
    response = JsonResponse(body, status=503, headers={"Retry-After": str(retry_after)})
    logged_already(response)
    return response


class DatabaseUnavailableMiddleware:
    """Answer 503 for a view (API, admin) that failed because PostgreSQL is unreachable.

    While it is down this process answers 503 at once instead of each request waiting out the pool timeout again
    (requests queued behind those waits would take several times as long), and tries it again as `Database`
    says. The probes always run: /healthz needs no database, and /readyz tries to reconnect on every call.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path not in PROBES and not database.usable():
            return database_unavailable()
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_UNAVAILABLE_ERRORS):
            database.failed(exception)
            return database_unavailable()
        return None
