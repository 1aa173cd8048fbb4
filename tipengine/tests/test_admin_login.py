"""The admin login locks out a password guesser (django-axes), even once the right password comes."""

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"


@pytest.fixture
def admin_user():
    return get_user_model().objects.create_superuser("root", "root@example.org", "right-password")


def log_in(client, password: str, ip: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": "root", "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)


def test_it_refuses_the_right_password_after_too_many_wrong_ones(client, admin_user):
    statuses = [log_in(client, "guess").status_code for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]  # the form again, then locked
    assert log_in(client, "right-password").status_code == 429
    assert client.get("/admin/").status_code == 302  # not logged in: sent to the login page
    assert AccessAttempt.objects.get(username="root").failures_since_start >= settings.AXES_FAILURE_LIMIT


def test_it_lets_the_owner_in_after_a_few_typos_and_forgets_them(client, admin_user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "typo")
    assert log_in(client, "right-password").status_code == 302
    assert not AccessAttempt.objects.filter(username="root").exists()


def test_a_guesser_elsewhere_does_not_lock_the_owner_out(client, admin_user):
    for _ in range(settings.AXES_FAILURE_LIMIT + 3):
        log_in(client, "guess", ip="203.0.113.9")
    assert log_in(client, "right-password", ip="10.0.0.1").status_code == 302
