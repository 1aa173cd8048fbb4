"""URLs of the floor benchmark (bench/floor.py): the app's own, plus views that each do one part of a serve."""

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone

from tipengine.urls import urlpatterns as app_urlpatterns

# The first row a serve writes, as it writes it: one statement, committed on its own (autocommit).
INSERT_REQUEST = (
    "INSERT INTO recommender_tiprequest (user_id, created_at, policy, policy_params, candidates, degraded) "
    "VALUES ((SELECT min(id) FROM auth_user), %s, 'floor', '{}', '[]', '[]') RETURNING id"
)


def _insert() -> None:
    with connection.cursor() as cursor:
        cursor.execute(INSERT_REQUEST, [timezone.now()])
        cursor.fetchone()


def cache_get(request: HttpRequest) -> JsonResponse:
    """One cache round trip: what reading a cached token costs."""
    cache.get("floor:token")
    return JsonResponse({"status": "ok"})


def select_one(request: HttpRequest) -> JsonResponse:
    """One database round trip."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return JsonResponse({"status": "ok"})


def insert(request: HttpRequest) -> JsonResponse:
    """One durable one-row write."""
    _insert()
    return JsonResponse({"status": "ok"})


def cache_get_and_insert(request: HttpRequest) -> JsonResponse:
    """What no serve can skip: read the caller's token from the cache, then log durably. Nothing else."""
    cache.get("floor:token")
    _insert()
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("floor/cache-get", cache_get),
    path("floor/select-one", select_one),
    path("floor/insert", insert),
    path("floor/cache-get-and-insert", cache_get_and_insert),
    *app_urlpatterns,
]
