"""Access JWTs, opaque refresh tokens and the at-rest encryption of MFA secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from artisan.config import Settings
from artisan.core.errors import Unauthorized
from artisan.core.ids import new_id

REFRESH_TOKEN_PREFIX = "art_rt_"  # noqa: S105


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified claims of an access token."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: str
    session_id: uuid.UUID
    jti: str
    expires_at: datetime


def _derive_key(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret.encode()
    )


class TokenService:
    """Mints and verifies the credentials users hold."""

    def __init__(self, settings: Settings) -> None:
        self.algorithm = settings.jwt_algorithm
        self.lifetime = timedelta(hours=settings.jwt_expiration_hours)
        self._jwt_key = _derive_key(settings.secret_key, b"artisan-jwt-v1")
        self._fernet = Fernet(
            base64.urlsafe_b64encode(_derive_key(settings.secret_key, b"artisan-mfa-v1"))
        )
        self._recovery_key = _derive_key(settings.secret_key, b"artisan-mfa-recovery-v1")

    def issue_access_token(
        self,
        *,
        user_id: uuid.UUID,
        tenant_id: uuid.UUID,
        role: str,
        session_id: uuid.UUID,
        now: datetime,
    ) -> tuple[str, datetime]:
        """A signed access token and its expiry."""
        expires_at = now + self.lifetime
        claims = {
            "sub": str(user_id),
            "tenant_id": str(tenant_id),
            "role": role,
            "sid": str(session_id),
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": str(new_id()),
        }
        return jwt.encode(claims, self._jwt_key, algorithm=self.algorithm), expires_at

    def verify_access_token(self, token: str) -> AccessClaims:
        """The claims of a valid token; 401 for a bad signature, algorithm, expiry or shape."""
        try:
            claims = jwt.decode(
                token,
                self._jwt_key,
                algorithms=[self.algorithm],
                options={"require": ["sub", "tenant_id", "role", "sid", "iat", "exp", "jti"]},
            )
            return AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                tenant_id=uuid.UUID(claims["tenant_id"]),
                role=str(claims["role"]),
                session_id=uuid.UUID(claims["sid"]),
                jti=str(claims["jti"]),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise Unauthorized("Invalid or expired access token") from exc

    @staticmethod
    def new_refresh_token() -> str:
        """A fresh opaque refresh token (256 bits)."""
        return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)

    @staticmethod
    def hash_refresh_token(token: str) -> str:
        """The stored digest of a refresh token (high-entropy, so a plain SHA-256 suffices)."""
        return hashlib.sha256(token.encode()).hexdigest()

    def digest_recovery_code(self, code: str) -> str:
        """The stored digest of an MFA recovery code, keyed so a copy of the table is useless."""
        normalised = code.replace("-", "").strip().lower()
        return hmac.new(self._recovery_key, normalised.encode(), hashlib.sha256).hexdigest()

    def encrypt_secret(self, value: str) -> bytes:
        """Encrypt a small secret (an MFA seed) for storage."""
        return self._fernet.encrypt(value.encode())

    def decrypt_secret(self, value: bytes) -> str:
        """Decrypt a stored secret; a key change makes old values unreadable."""
        try:
            return self._fernet.decrypt(value).decode()
        except InvalidToken as exc:
            raise Unauthorized("MFA secret cannot be read; contact an administrator") from exc
