"""SSRF protection: endpoints may only reach public addresses unless an allow list admits them."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Cloud metadata services that are reachable from inside a VPC without being "private".
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


class SSRFBlocked(OSError):
    """A destination address that webhooks may not reach."""


class InvalidWebhookURL(ValueError):
    """An endpoint URL that cannot be accepted."""


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """The CIDRs of WEBHOOK_ALLOW_PRIVATE_NETWORKS."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False)
        for part in value.split(",")
        if part.strip()
    )


def address_blocked(address: IPAddress, allowed: Iterable[IPNetwork]) -> bool:
    """Whether webhooks may not reach `address`: loopback, private, link-local, multicast, ..."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return False
    return (
        address in METADATA_ADDRESSES
        or not address.is_global
        or address.is_multicast
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_reserved
        or address.is_unspecified
    )


def validate_url(url: str, *, https_required: bool, allowed: Iterable[IPNetwork]) -> str:
    """Check an endpoint URL on create and update; names are resolved again at send time."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidWebhookURL("The URL is not valid") from exc
    if parts.scheme not in ("http", "https"):
        raise InvalidWebhookURL("The URL must use http or https")
    if https_required and parts.scheme != "https":
        raise InvalidWebhookURL("The URL must use https")
    if not parts.hostname:
        raise InvalidWebhookURL("The URL has no host")
    if parts.username or parts.password:
        raise InvalidWebhookURL("The URL must not carry credentials")
    if port == 0:
        raise InvalidWebhookURL("The URL's port is not valid")
    try:
        literal: IPAddress | None = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None and address_blocked(literal, allowed):
        raise InvalidWebhookURL("The URL points at a private or reserved address")
    if literal is None and parts.hostname.rstrip(".").lower() in (
        "localhost",
        "localhost.localdomain",
    ):
        if address_blocked(ipaddress.ip_address("127.0.0.1"), allowed):
            raise InvalidWebhookURL("The URL points at a private or reserved address")
    return url


def check_literal_host(host: str, allowed: Iterable[IPNetwork]) -> None:
    """Refuse an IP-literal host at send time (the HTTP client does not resolve those)."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return
    if address_blocked(literal, allowed):
        raise SSRFBlocked(f"{literal} is not a permitted destination")


class GuardedResolver(AbstractResolver):
    """Resolves names and refuses the connection if any address is not permitted.

    The connection then uses exactly the addresses checked here, so a DNS answer cannot change
    between the check and the connect.
    """

    def __init__(self, allowed: Iterable[IPNetwork]) -> None:
        self._allowed = tuple(allowed)
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve `host` and refuse it when one of its addresses is blocked."""
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if address_blocked(ipaddress.ip_address(result["host"]), self._allowed):
                raise SSRFBlocked(f"{host} resolves to a non-permitted address")
        return results

    async def close(self) -> None:
        """Release the inner resolver."""
        await self._inner.close()


def is_ssrf_error(exc: BaseException) -> bool:
    """Whether an exception (or its cause chain) is an SSRF refusal."""
    seen: set[int] = set()
    current: Any = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, SSRFBlocked):
            return True
        seen.add(id(current))
        current = getattr(current, "os_error", None) or current.__cause__ or current.__context__
    return False
