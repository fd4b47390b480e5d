"""The key format: `art_sk_` + 32 base62 characters of randomness + a 6-character CRC32 checksum.

32 base62 characters carry 190 bits of randomness. The checksum lets a mistyped or truncated key
be refused without touching the database, and the fixed prefix lets secret scanners find leaks.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import zlib
from dataclasses import dataclass

KEY_KIND_PREFIX = "art_sk_"
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(KEY_KIND_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
DISPLAY_PREFIX_LENGTH = len(KEY_KIND_PREFIX) + 5
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
# Published in docs/api-keys.md for customers' secret scanners.
KEY_PATTERN = re.compile(r"\bart_sk_[0-9A-Za-z]{38}\b")
_FULL_MATCH = re.compile(r"art_sk_[0-9A-Za-z]{38}")
_HMAC_CONTEXT = b"artisan-api-key-hmac-v1"


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly minted key: the secret (shown once) and what is stored about it."""

    secret: str
    digest: str
    display_prefix: str
    last_four: str


def _base62(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, remainder = divmod(value, 62)
        chars.append(BASE62[remainder])
    return "".join(reversed(chars))


def checksum(body: str) -> str:
    """The 6-character base62 CRC32 of the key's prefix and random part."""
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def well_formed(key: str) -> bool:
    """Whether `key` has our shape and a matching checksum (no database needed)."""
    if len(key) != KEY_LENGTH or not _FULL_MATCH.fullmatch(key):
        return False
    body, given = key[:-CHECKSUM_LENGTH], key[-CHECKSUM_LENGTH:]
    return hmac.compare_digest(checksum(body), given)


def derive_hmac_secret(secret: str) -> bytes:
    """The HMAC key for stored key digests, derived from a server secret."""
    return hmac.new(secret.encode(), _HMAC_CONTEXT, hashlib.sha256).digest()


def digest(hmac_secret: bytes, key: str) -> str:
    """The stored form of a key: HMAC-SHA256 keyed with the server secret, in hex."""
    return hmac.new(hmac_secret, key.encode("ascii"), hashlib.sha256).hexdigest()


def generate(hmac_secret: bytes) -> NewKey:
    """Mint a new key with its digest and display parts."""
    body = KEY_KIND_PREFIX + "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    secret = body + checksum(body)
    return NewKey(
        secret=secret,
        digest=digest(hmac_secret, secret),
        display_prefix=secret[:DISPLAY_PREFIX_LENGTH],
        last_four=secret[-4:],
    )


def redacted(display_prefix: str, last_four: str) -> str:
    """How a key is shown after creation: its first characters and last four."""
    return f"{display_prefix}...{last_four}"
