"""Compose's Caddy reaches gunicorn from a subnet that web's TRUSTED_PROXIES names, so the admin lockout keys on the
client behind it (ADR 0095): checked on docker-compose.yml as written, without a Docker engine."""

import ipaddress

from django.test import RequestFactory, override_settings

from tipengine.client_ip import client_ip, proxy_networks
from tipengine.tests.test_deploy import COMPOSE, SERVICES

# Docker's default address pools: a network compose lets Docker number gets its subnet from these.
DOCKER_DEFAULT_POOLS = [ipaddress.ip_network("172.16.0.0/12"), ipaddress.ip_network("192.168.0.0/16")]


def edge_subnets() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry["subnet"]) for entry in COMPOSE["networks"]["edge"]["ipam"]["config"]]


def web_trusted_proxies() -> list[str]:
    return proxy_networks("TRUSTED_PROXIES", SERVICES["web"]["environment"]["TRUSTED_PROXIES"].split(","))


def test_caddy_reaches_web_only_over_the_edge_network_and_nothing_else_is_on_it():
    assert SERVICES["caddy"]["networks"] == ["edge"]
    assert SERVICES["web"]["networks"] == ["default", "edge"]  # default: PostgreSQL and Redis
    on_edge = sorted(name for name, service in SERVICES.items() if "edge" in service.get("networks", []))
    assert on_edge == ["caddy", "web"]


def test_web_trusts_exactly_the_edge_subnet_which_docker_never_hands_out_itself():
    subnets = edge_subnets()
    assert [ipaddress.ip_network(entry) for entry in web_trusted_proxies()] == subnets
    for subnet in subnets:
        assert subnet.is_private
        assert not any(subnet.overlaps(pool) for pool in DOCKER_DEFAULT_POOLS), subnet
    # Only web is told: the other app services keep the shared environment, without it.
    assert all("TRUSTED_PROXIES" not in SERVICES[name]["environment"] for name in ("worker", "worker-llm", "beat"))


def test_with_composes_value_a_login_through_caddy_counts_against_the_client_not_the_proxy():
    caddy = str(next(edge_subnets()[0].hosts()))  # any address Docker can give Caddy on that network
    request = RequestFactory().post(
        "/admin/login/", REMOTE_ADDR=caddy, HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.9"
    )
    direct = RequestFactory().post("/admin/login/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="203.0.113.9")
    with override_settings(TRUSTED_PROXIES=web_trusted_proxies()):
        assert client_ip(request) == "203.0.113.9"  # the address Caddy appended, not what the client wrote
        assert client_ip(direct) == "10.0.0.9"  # any other peer: its header is not believed
