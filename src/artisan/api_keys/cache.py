"""A per-process cache of verified keys, invalidated across processes through Redis pub/sub."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis
import structlog

log = structlog.get_logger(__name__)

INVALIDATION_CHANNEL = "artisan:api_keys:invalidate"
_EVERYTHING = "*"
_RECONNECT_SECONDS = 1.0
# The channel is pinged this often; the cache is trusted only while a pong (or the subscription
# itself) is younger than LIVENESS_WINDOW_SECONDS, which bounds how late a revocation can be
# even when the connection dies silently.
LIVENESS_PING_SECONDS = 0.25
LIVENESS_WINDOW_SECONDS = 0.75
_SILENCE_LIMIT_SECONDS = 5.0

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class VerifiedKey:
    """What verification needs to know about a key once its secret matched."""

    key_id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    display_prefix: str
    scopes: frozenset[str]
    expires_at: datetime | None
    # Set when the secret presented is the previous one of a rolled key.
    grace_ends_at: datetime | None
    networks: tuple[IPNetwork, ...]
    rate_limit_per_minute: int | None

    def allows_ip(self, ip: str) -> bool:
        """Whether a request from `ip` passes the key's allowlist (empty allows all)."""
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            mapped = address.ipv4_mapped
            if any(mapped in net for net in self.networks if net.version == 4):
                return True
        return any(address in net for net in self.networks if net.version == address.version)


class KeyCache:
    """Verified keys by digest for a bounded time; used only while invalidations can arrive."""

    def __init__(self, *, ttl_seconds: float, max_entries: int, redis_url: str | None) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self.redis_url = redis_url
        self._entries: OrderedDict[str, tuple[float, VerifiedKey]] = OrderedDict()
        self._listener: asyncio.Task[None] | None = None
        self._confirmed_at: float | None = None

    @property
    def listening(self) -> bool:
        """Whether invalidations from other processes are known to arrive right now."""
        if self.redis_url is None:
            # One process: every invalidation is local, so the cache is always current.
            return True
        confirmed = self._confirmed_at
        return confirmed is not None and time.monotonic() - confirmed < LIVENESS_WINDOW_SECONDS

    @property
    def usable(self) -> bool:
        """Whether entries may be stored and served now."""
        return self.ttl > 0 and self.listening

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: str) -> VerifiedKey | None:
        """A cached key for the digest, if still fresh."""
        if not self.usable:
            return None
        item = self._entries.get(digest)
        if item is None:
            return None
        stored_at, entry = item
        if time.monotonic() - stored_at > self.ttl:
            self._entries.pop(digest, None)
            return None
        return entry

    def put(self, digest: str, entry: VerifiedKey) -> None:
        """Remember a verified key (dropping the oldest entries beyond the bound)."""
        if not self.usable:
            return
        self._entries[digest] = (time.monotonic(), entry)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def evict(self, key_id: uuid.UUID | None) -> None:
        """Forget one key's entries (every secret of it), or everything for None."""
        if key_id is None:
            self._entries.clear()
            return
        for digest in [d for d, (_, e) in self._entries.items() if e.key_id == key_id]:
            self._entries.pop(digest, None)

    def start(self) -> None:
        """Start listening for invalidations from other processes (idempotent)."""
        if self.redis_url is None or self._listener is not None:
            return
        self._listener = asyncio.get_running_loop().create_task(self._listen(self.redis_url))

    async def publish(self, redis: aioredis.Redis | None, key_id: uuid.UUID) -> None:
        """Invalidate a key here and in every other process."""
        self.evict(key_id)
        if redis is None:
            return
        try:
            await redis.publish(INVALIDATION_CHANNEL, str(key_id))
        except Exception:
            # Other processes stop trusting their caches when they lose the channel; this one
            # cannot tell them, so it logs loudly for the operator.
            log.exception("api_key_invalidation_publish_failed", key_id=str(key_id))

    async def _listen(self, redis_url: str) -> None:
        while True:
            client = aioredis.from_url(redis_url)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(INVALIDATION_CHANNEL)
                last_ping = 0.0
                while True:
                    now = time.monotonic()
                    if now - last_ping >= LIVENESS_PING_SECONDS:
                        # A silently dead connection would never deliver an invalidation;
                        # regular pongs prove the channel is alive, and the cache is used only
                        # while the last proof is recent.
                        await pubsub.ping()
                        last_ping = now
                    confirmed = self._confirmed_at
                    if confirmed is not None and now - confirmed > _SILENCE_LIMIT_SECONDS:
                        raise ConnectionError("no pong on the invalidation channel")
                    message = await pubsub.get_message(timeout=LIVENESS_PING_SECONDS / 2)
                    if message is None:
                        continue
                    kind = message.get("type")
                    if kind in ("subscribe", "pong"):
                        if not self.listening:
                            # After a lapse nothing cached is known to be current.
                            self._entries.clear()
                        self._confirmed_at = time.monotonic()
                    elif kind == "message":
                        self._on_message(message.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("api_key_invalidation_channel_lost")
            finally:
                # Until the channel is back, nothing cached can be trusted to be current.
                self._confirmed_at = None
                self._entries.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()
            await asyncio.sleep(_RECONNECT_SECONDS)

    def _on_message(self, data: object) -> None:
        text = data.decode() if isinstance(data, bytes) else str(data)
        if text == _EVERYTHING:
            self.evict(None)
            return
        try:
            self.evict(uuid.UUID(text))
        except ValueError:
            log.warning("api_key_invalidation_unreadable")

    async def aclose(self) -> None:
        """Stop listening."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        self._confirmed_at = None
        self._entries.clear()
