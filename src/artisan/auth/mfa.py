"""Two-factor sign-in: TOTP codes, and single-use recovery codes for a lost authenticator."""

from __future__ import annotations

import base64
import enum
import re
import secrets
from datetime import datetime

import pyotp
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.audit.recorder import Actor, Target, record
from artisan.auth.kit import AuthKit
from artisan.auth.principal import Principal
from artisan.auth.schemas import RECOVERY_CODE_PATTERN, MfaSetupResponse
from artisan.core.errors import Conflict, ValidationFailed
from artisan.core.ids import utcnow
from artisan.models.user import MfaRecoveryCode, User
from artisan.users.service import own_user

MFA_ISSUER = "Artisan Platform"
RECOVERY_CODES = 10
# Sixteen base32 characters: 80 bits.
RECOVERY_CODE = re.compile(rf"^{RECOVERY_CODE_PATTERN}$")


class CodeCheck(enum.Enum):
    """What a second factor turned out to be."""

    valid = "valid"
    invalid = "invalid"
    # A correct TOTP code whose time step was already accepted once.
    reused = "reused"


def new_recovery_code() -> str:
    """A fresh recovery code, for the user's eyes only."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def check_totp(kit: AuthKit, user: User, code: str, now: datetime) -> tuple[CodeCheck, int | None]:
    """Whether a TOTP code is valid now (and its time step), reused, or wrong."""
    assert user.mfa_secret_encrypted is not None
    totp = pyotp.TOTP(kit.tokens.decrypt_secret(user.mfa_secret_encrypted))
    for offset in (0, -1, 1):
        step = totp.timecode(now) + offset
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            if user.mfa_last_step is not None and step <= user.mfa_last_step:
                return CodeCheck.reused, None
            return CodeCheck.valid, step
    return CodeCheck.invalid, None


async def check_second_factor(
    session: AsyncSession, kit: AuthKit, user: User, code: str, now: datetime
) -> CodeCheck:
    """A TOTP code (its step then remembered) or an unused recovery code (then spent)."""
    if RECOVERY_CODE.match(code):
        spent = await session.execute(
            update(MfaRecoveryCode)
            .where(
                MfaRecoveryCode.tenant_id == user.tenant_id,
                MfaRecoveryCode.user_id == user.id,
                MfaRecoveryCode.code_hash == kit.tokens.digest_recovery_code(code),
                MfaRecoveryCode.used_at.is_(None),
            )
            .values(used_at=now)
            .returning(MfaRecoveryCode.id)
        )
        if spent.first() is None:
            return CodeCheck.invalid
        left = await _unused_codes(session, user)
        await record(
            session,
            "auth.recovery_code_used",
            tenant_id=user.tenant_id,
            actor=_actor(user),
            targets=[Target("user", str(user.id), user.email)],
            metadata={"remaining": left},
        )
        return CodeCheck.valid
    check, step = check_totp(kit, user, code, now)
    if check is CodeCheck.valid:
        user.mfa_last_step = step
    return check


def _actor(user: User) -> Actor:
    return Actor(type="user", id=str(user.id), label=user.email)


async def _unused_codes(session: AsyncSession, user: User) -> int:
    left = await session.execute(
        select(func.count()).where(
            MfaRecoveryCode.tenant_id == user.tenant_id,
            MfaRecoveryCode.user_id == user.id,
            MfaRecoveryCode.used_at.is_(None),
        )
    )
    return int(left.scalar_one())


async def _replace_recovery_codes(session: AsyncSession, kit: AuthKit, user: User) -> list[str]:
    await session.execute(
        delete(MfaRecoveryCode).where(
            MfaRecoveryCode.tenant_id == user.tenant_id, MfaRecoveryCode.user_id == user.id
        )
    )
    codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
    session.add_all(
        MfaRecoveryCode(
            tenant_id=user.tenant_id,
            user_id=user.id,
            code_hash=kit.tokens.digest_recovery_code(code),
        )
        for code in codes
    )
    await session.flush()
    return codes


def _require_totp(kit: AuthKit, user: User, code: str) -> int:
    check, step = check_totp(kit, user, code, utcnow())
    if check is CodeCheck.reused:
        raise ValidationFailed(
            "This code was already used; wait for the next one", code="mfa_code_used"
        )
    if check is not CodeCheck.valid or step is None:
        raise ValidationFailed("The MFA code is not valid", code="mfa_invalid")
    return step


async def mfa_setup(session: AsyncSession, kit: AuthKit, principal: Principal) -> MfaSetupResponse:
    """Create a new TOTP secret (not active until confirmed with /enable)."""
    user = await own_user(session, principal)
    if user.mfa_enabled:
        raise Conflict("MFA is already enabled; disable it first", code="mfa_already_enabled")
    secret = pyotp.random_base32()
    user.mfa_secret_encrypted = kit.tokens.encrypt_secret(secret)
    user.mfa_last_step = None
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=MFA_ISSUER)
    return MfaSetupResponse(secret=secret, otpauth_uri=uri)


async def mfa_enable(
    session: AsyncSession, kit: AuthKit, principal: Principal, code: str
) -> list[str]:
    """Turn MFA on after checking a code from the new secret; the recovery codes, shown once."""
    user = await own_user(session, principal)
    if user.mfa_enabled:
        raise Conflict("MFA is already enabled", code="mfa_already_enabled")
    if user.mfa_secret_encrypted is None:
        raise Conflict("Call /api/auth/mfa/setup first", code="mfa_not_set_up")
    user.mfa_last_step = _require_totp(kit, user, code)
    user.mfa_enabled = True
    codes = await _replace_recovery_codes(session, kit, user)
    await record(
        session,
        "user.mfa_enabled",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[Target("user", str(user.id), user.email)],
    )
    return codes


async def regenerate_recovery_codes(
    session: AsyncSession, kit: AuthKit, principal: Principal, code: str
) -> list[str]:
    """Replace every recovery code (the old ones stop working); a current TOTP code required."""
    user = await own_user(session, principal)
    if not user.mfa_enabled:
        raise Conflict("MFA is not enabled", code="mfa_not_enabled")
    user.mfa_last_step = _require_totp(kit, user, code)
    codes = await _replace_recovery_codes(session, kit, user)
    await record(
        session,
        "user.recovery_codes_regenerated",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[Target("user", str(user.id), user.email)],
    )
    return codes


async def mfa_disable(
    session: AsyncSession, kit: AuthKit, principal: Principal, password: str, code: str
) -> None:
    """Turn MFA off; takes the password and a current code. The recovery codes go with it."""
    user = await own_user(session, principal)
    if not user.mfa_enabled:
        raise Conflict("MFA is not enabled", code="mfa_not_enabled")
    if not await kit.passwords.verify_async(user.password_hash, password):
        raise ValidationFailed("The password is not correct", code="invalid_password")
    _require_totp(kit, user, code)
    user.mfa_enabled = False
    user.mfa_secret_encrypted = None
    user.mfa_last_step = None
    await session.execute(
        delete(MfaRecoveryCode).where(
            MfaRecoveryCode.tenant_id == user.tenant_id, MfaRecoveryCode.user_id == user.id
        )
    )
    await record(
        session,
        "user.mfa_disabled",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[Target("user", str(user.id), user.email)],
    )
