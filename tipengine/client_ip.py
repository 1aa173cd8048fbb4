"""The client's address: X-Forwarded-For is believed only when the peer is a trusted proxy (TRUSTED_PROXIES)."""

import ipaddress
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def proxy_networks(name: str, entries: list[str]) -> list[str]:
    """Return `entries` (addresses or CIDR networks) as given, or stop start-up naming the one that is neither."""
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {entry!r} is not an IP address or network (e.g. 172.18.0.0/16)."
            ) from None
    return entries


@cache
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    ip = _address(address)
    return ip is not None and any(ip in network for network in networks)


def client_ip(request: HttpRequest) -> str | None:
    """Return the address of the client that sent `request` (django-axes' AXES_CLIENT_IP_CALLABLE).

    From a trusted proxy, the client is the right-most X-Forwarded-For entry that is not itself a trusted proxy:
    each proxy appends the address it was called from, so entries to the left of that are whatever the client
    chose to send and are never believed. From anyone else the header is ignored and the peer is the client.
    """
    peer = request.META.get("REMOTE_ADDR")
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not peer or not _trusted(peer, networks):
        return peer
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed(forwarded):
        if _address(hop) is None:  # not an address (or no header): nothing to believe, keep the peer
            return peer
        if not _trusted(hop, networks):
            return hop
    return peer
