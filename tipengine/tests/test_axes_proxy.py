"""Behind the trusted proxy the admin lockout keys on the real client: a guesser elsewhere cannot lock the owner out."""

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from tipengine.client_ip import proxy_networks

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
PROXY = "172.18.0.5"  # the peer every request comes from behind the proxy
GUESSER = "203.0.113.9"
OWNER = "198.51.100.7"


@pytest.fixture
def admin_user():
    return get_user_model().objects.create_superuser("admin", "admin@example.org", "right-password")


def log_in(client, password: str, *, peer: str = PROXY, forwarded_for: str | None = None):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for is not None else {}
    form = {"username": "admin", "password": password, "next": "/admin/"}
    return client.post(LOGIN, form, REMOTE_ADDR=peer, **headers)


def guess_until_locked(client, **where: str) -> None:
    statuses = [log_in(client, "guess", **where).status_code for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses[-1] == 429, statuses


@override_settings(TRUSTED_PROXIES=["172.18.0.0/16"])
def test_failures_from_one_client_behind_the_proxy_do_not_lock_out_another(client, admin_user):
    guess_until_locked(client, forwarded_for=GUESSER)
    assert log_in(client, "right-password", forwarded_for=GUESSER).status_code == 429  # the guesser stays locked
    assert log_in(client, "right-password", forwarded_for=OWNER).status_code == 302  # the owner gets in
    assert AccessAttempt.objects.get(username="admin").ip_address == GUESSER


@override_settings(TRUSTED_PROXIES=["172.18.0.0/16"])
def test_a_forged_forwarded_for_entry_is_not_believed(client, admin_user):
    # The proxy appends the address it was called from; what the client wrote to its left is the client's word.
    guess_until_locked(client, forwarded_for=f"{OWNER}, {GUESSER}")
    assert AccessAttempt.objects.get(username="admin").ip_address == GUESSER
    assert log_in(client, "right-password", forwarded_for=OWNER).status_code == 302


@override_settings(TRUSTED_PROXIES=["172.18.0.0/16"])
def test_a_peer_that_is_not_a_trusted_proxy_is_the_client_whatever_it_forwards(client, admin_user):
    guess_until_locked(client, peer=GUESSER, forwarded_for=OWNER)
    assert AccessAttempt.objects.get(username="admin").ip_address == GUESSER
    assert log_in(client, "right-password", forwarded_for=OWNER).status_code == 302


def test_without_trusted_proxies_the_forwarded_for_header_is_ignored(client, admin_user):
    assert settings.TRUSTED_PROXIES == []
    guess_until_locked(client, forwarded_for=GUESSER)
    assert AccessAttempt.objects.get(username="admin").ip_address == PROXY


def test_a_trusted_proxy_that_is_not_an_address_stops_start_up():
    assert proxy_networks("TRUSTED_PROXIES", ["10.0.0.1", "fd00::/8"]) == ["10.0.0.1", "fd00::/8"]
    with pytest.raises(ImproperlyConfigured, match="'caddy' is not an IP address or network"):
        proxy_networks("TRUSTED_PROXIES", ["caddy"])
