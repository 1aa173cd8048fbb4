"""Test support: a base test case with named actors, and the switch that makes missing services fail."""

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.test import SimpleTestCase, TestCase
from django_guid.log_filters import CorrelationId
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tipengine.metrics import exposition


def require_service(name: str, ok: bool, why: str = "") -> None:
    """Skip the calling test when `name` is unavailable, or fail it when TIPENGINE_REQUIRE_SERVICES=1 (CI)."""
    if ok:
        return
    message = f"{name} is not available{': ' + why if why else ''}"
    if os.environ.get("TIPENGINE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (TIPENGINE_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(message)


# What a test-case mixin is mixed into, for the type checker only: at run time it must stay out of the MRO.
if TYPE_CHECKING:
    MixinBase = SimpleTestCase
else:
    MixinBase = object


def make_user(username: str) -> User:
    """Return a new user with an API token."""
    user = get_user_model().objects.create_user(username=username, email=f"{username}@example.org", password="pw")
    Token.objects.create(user=user)
    return user


def api_client(user: User | None) -> APIClient:
    """Return an API client authenticated with `user`'s token (anonymous for None)."""
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {user.auth_token.key}")
    return client


class ActorsMixin(MixinBase):
    """Alice owns things, Bob is another user, Charlie is an outsider."""

    def setUp(self) -> None:
        super().setUp()
        self.alice = make_user("alice")
        self.bob = make_user("bob")
        self.charlie = make_user("charlie")

    def api(self, user: User | None) -> APIClient:
        return api_client(user)


class BaseTestCase(ActorsMixin, TestCase):
    """A database test case with the three actors."""


def metric_value(name: str, text: str | None = None, **labels: str) -> float:
    """One sample's value in a Prometheus text answer (this process's metrics by default; 0 when absent)."""
    text = exposition().decode() if text is None else text
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


@contextmanager
def captured_logs(level: int = logging.DEBUG) -> Iterator[list[logging.LogRecord]]:
    """Records reaching the root logger at `level` and above, with the request id as the project's handler adds it."""
    records: list[logging.LogRecord] = []
    handler = _ListHandler(records, level)
    handler.addFilter(CorrelationId("request_id"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)


class _ListHandler(logging.Handler):
    """Appends every record it handles to `records`."""

    def __init__(self, records: list[logging.LogRecord], level: int) -> None:
        super().__init__(level)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
