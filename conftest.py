"""Project-wide pytest fixtures: a frozen clock, and the named actors for function-style tests."""

import os

import pytest
import time_machine

from testsupport.cases import api_client, make_user

# The sample tasks' due times make the candidate pool depend on the hour, so the whole run starts at one instant
# and the clock ticks on. TIPENGINE_TEST_NOW overrides it: .ci/run also runs the tests marked `clock` (they depend
# on the instant) around local midnight, just after a sample task's due time and at Berlin's DST change.
TEST_NOW = os.environ.get("TIPENGINE_TEST_NOW", "2026-06-15T09:00:00+00:00")


@pytest.fixture(autouse=True, scope="session")
def _frozen_clock():
    with time_machine.travel(TEST_NOW, tick=True):
        yield


@pytest.fixture(autouse=True, scope="session")
def _no_model_reloader():
    """Tests reload the serving model by hand: a polling thread would query the test database behind their back."""
    from django.conf import settings

    settings.TIPS_MODEL_RELOADER = False


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def charlie(db):
    return make_user("charlie")


@pytest.fixture
def api():
    return api_client


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache (Redis in CI), so cached tasks or breaker state never leak."""
    from django.core.cache import cache

    cache.clear()
    yield


# private_redis, private_postgres, celery_workers: servers a test may kill (testsupport/faults.py)
pytest_plugins = ["testsupport.faults"]
