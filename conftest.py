"""Project-wide pytest fixtures: the named actors for function-style tests."""

import pytest

from tipengine.testing import api_client, make_user


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


# private_redis, private_postgres, celery_workers: servers a test may kill (tipengine/fault_services.py)
pytest_plugins = ["tipengine.fault_services"]
