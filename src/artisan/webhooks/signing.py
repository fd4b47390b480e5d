"""Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`, `webhook-signature`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_BYTES = 32


def generate_secret(size: int = SECRET_BYTES) -> str:
    """A new endpoint secret: `whsec_` + base64 of `size` (24-64) random bytes."""
    if not 24 <= size <= 64:
        raise ValueError("secrets are 24 to 64 random bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(size)).decode()


def secret_key_bytes(secret: str) -> bytes:
    """The HMAC key inside a `whsec_` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


class SigningKey:
    """An endpoint's HMAC key, keyed once: each signature then costs one copy and one hash."""

    __slots__ = ("_keyed",)

    def __init__(self, key: bytes) -> None:
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def sign(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """One `v1,<base64>` signature of `id.timestamp.body`."""
        mac = self._keyed.copy()
        mac.update(f"{msg_id}.{timestamp}.".encode() + body)
        return "v1," + base64.b64encode(mac.digest()).decode()


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of `id.timestamp.body`."""
    return SigningKey(key).sign(msg_id, timestamp, body)


def signature_header(
    keys: Iterable[bytes | SigningKey], msg_id: str, timestamp: int, body: bytes
) -> str:
    """The `webhook-signature` value: one signature per live secret, space-separated."""
    return " ".join(
        (key if isinstance(key, SigningKey) else SigningKey(key)).sign(msg_id, timestamp, body)
        for key in keys
    )


def webhook_headers(
    keys: Iterable[bytes | SigningKey], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(keys, msg_id, timestamp, body),
    }


class SecretBox:
    """Encrypts endpoint secrets at rest with a key derived from SECRET_KEY."""

    def __init__(self, secret_key: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"artisan-webhook-secret-v1"
        ).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, secret: str) -> bytes:
        """The stored form of a secret."""
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        """The secret inside a stored value."""
        return self._fernet.decrypt(sealed).decode()
