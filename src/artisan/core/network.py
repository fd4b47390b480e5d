"""Client addresses behind trusted proxies."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import HTTPConnection

from artisan.core.context import request_meta


@lru_cache(maxsize=32)
def _networks(
    proxies: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def is_trusted_proxy(peer: str | None, proxies: tuple[str, ...]) -> bool:
    """Whether the direct peer is one of the configured reverse proxies."""
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in net for net in _networks(proxies))


def resolve_client_ip(
    peer: str | None, forwarded_for: str | None, proxies: tuple[str, ...]
) -> str | None:
    """The right-most X-Forwarded-For hop that is not a trusted proxy, else the direct peer."""
    if forwarded_for and is_trusted_proxy(peer, proxies):
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            if not is_trusted_proxy(hop, proxies):
                return hop
    return peer


def client_ip(conn: HTTPConnection) -> str:
    """The current request's client address, as the request middleware resolved it."""
    return request_meta().ip_address or (conn.client.host if conn.client else "unknown")
