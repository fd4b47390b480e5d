"""TOTP MFA: set up, enable, sign-in with codes, replay refusal, disable."""

from __future__ import annotations

import time

import httpx
import pyotp
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.models.user import User
from tests.factories import Account, signed_in_user


async def _enable_mfa_with_codes(
    client: httpx.AsyncClient, account: Account
) -> tuple[pyotp.TOTP, list[str]]:
    setup = await client.post("/api/auth/mfa/setup", headers=account.headers)
    totp = pyotp.TOTP(setup.json()["secret"])
    enabled = await client.post(
        "/api/auth/mfa/enable", headers=account.headers, json={"code": totp.now()}
    )
    assert enabled.status_code == 200, enabled.text
    return totp, list(enabled.json()["recovery_codes"])


async def _enable_mfa(client: httpx.AsyncClient, account: Account) -> pyotp.TOTP:
    setup = await client.post("/api/auth/mfa/setup", headers=account.headers)
    assert setup.status_code == 200, setup.text
    body = setup.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(body["secret"])
    enabled = await client.post(
        "/api/auth/mfa/enable", headers=account.headers, json={"code": totp.now()}
    )
    assert enabled.status_code == 200, enabled.text
    return totp


def _next_code(totp: pyotp.TOTP) -> str:
    """The code of the next time step (accepted: servers allow one step of clock drift)."""
    return totp.at(time.time() + totp.interval)


def _login(account: Account, **extra: object) -> dict[str, object]:
    return {"email": account.email, "password": account.password, **extra}


async def test_mfa_secret_is_encrypted_at_rest(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    account = await signed_in_user(app, client)
    secret = (await client.post("/api/auth/mfa/setup", headers=account.headers)).json()["secret"]
    async with admin_engine.connect() as conn:
        stored = (
            await conn.execute(select(User.mfa_secret_encrypted).where(User.id == account.user_id))
        ).scalar_one()
    assert stored is not None
    assert secret.encode() not in stored


async def test_mfa_enable_needs_a_valid_code(app: FastAPI, client: httpx.AsyncClient) -> None:
    account = await signed_in_user(app, client)
    not_set_up = await client.post(
        "/api/auth/mfa/enable", headers=account.headers, json={"code": "123456"}
    )
    assert not_set_up.status_code == 409
    await client.post("/api/auth/mfa/setup", headers=account.headers)
    wrong = await client.post(
        "/api/auth/mfa/enable", headers=account.headers, json={"code": "000000"}
    )
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "mfa_invalid"
    malformed = await client.post(
        "/api/auth/mfa/enable", headers=account.headers, json={"code": "12ab"}
    )
    assert malformed.status_code == 422
    me = await client.get("/api/auth/me", headers=account.headers)
    assert me.json()["mfa_enabled"] is False


async def test_login_with_mfa_requires_a_fresh_code(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    account = await signed_in_user(app, client)
    totp = await _enable_mfa(client, account)

    missing = await client.post("/api/auth/login", json=_login(account))
    assert missing.status_code == 401
    assert missing.json()["code"] == "mfa_required"
    wrong = await client.post("/api/auth/login", json=_login(account, mfa_code="000000"))
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "mfa_invalid"

    # /enable consumed the current step's code; the next step's code is within the accepted drift.
    used = await client.post("/api/auth/login", json=_login(account, mfa_code=totp.now()))
    assert used.status_code == 401
    code = _next_code(totp)
    ok = await client.post("/api/auth/login", json=_login(account, mfa_code=code))
    assert ok.status_code == 200, ok.text
    replay = await client.post("/api/auth/login", json=_login(account, mfa_code=code))
    assert replay.status_code == 401
    # A replayed code is told apart from a wrong one: the user waits for the next.
    assert replay.json()["code"] == "mfa_code_used"
    assert "already used" in replay.json()["detail"]


async def test_setup_again_while_enabled_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    account = await signed_in_user(app, client)
    await _enable_mfa(client, account)
    again = await client.post("/api/auth/mfa/setup", headers=account.headers)
    assert again.status_code == 409


async def test_disable_needs_password_and_code(app: FastAPI, client: httpx.AsyncClient) -> None:
    account = await signed_in_user(app, client)
    totp = await _enable_mfa(client, account)
    wrong_password = await client.post(
        "/api/auth/mfa/disable",
        headers=account.headers,
        json={"password": "nope", "code": totp.now()},
    )
    assert wrong_password.status_code == 422
    assert wrong_password.json()["code"] == "invalid_password"
    disabled = await client.post(
        "/api/auth/mfa/disable",
        headers=account.headers,
        json={"password": account.password, "code": _next_code(totp)},
    )
    assert disabled.status_code == 200, disabled.text
    plain = await client.post("/api/auth/login", json=_login(account))
    assert plain.status_code == 200


async def test_recovery_codes_stand_in_for_the_authenticator_once_each(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    account = await signed_in_user(app, client)
    totp, codes = await _enable_mfa_with_codes(client, account)
    assert len(codes) == len(set(codes)) == 10
    # Stored as digests only.
    async with admin_engine.connect() as conn:
        stored = (
            (
                await conn.execute(
                    text("SELECT code_hash FROM mfa_recovery_codes WHERE user_id = :u"),
                    {"u": account.user_id},
                )
            )
            .scalars()
            .all()
        )
    assert len(stored) == 10
    assert not set(codes) & set(stored)
    signed_in = await client.post("/api/auth/login", json=_login(account, mfa_code=codes[0]))
    assert signed_in.status_code == 200, signed_in.text
    # Upper case and without dashes is the same code, and a spent code is spent.
    again = await client.post(
        "/api/auth/login", json=_login(account, mfa_code=codes[0].upper().replace("-", ""))
    )
    assert again.status_code == 401
    assert again.json()["code"] == "mfa_invalid"
    other = await client.post(
        "/api/auth/login", json=_login(account, mfa_code=codes[1].replace("-", ""))
    )
    assert other.status_code == 200
    # Regenerating takes a current code and replaces every old code.
    headers = {"Authorization": f"Bearer {other.json()['access_token']}"}
    wrong = await client.post(
        "/api/auth/mfa/recovery-codes", headers=headers, json={"code": "000000"}
    )
    assert wrong.status_code == 422
    fresh = await client.post(
        "/api/auth/mfa/recovery-codes", headers=headers, json={"code": _next_code(totp)}
    )
    assert fresh.status_code == 200, fresh.text
    new_codes = fresh.json()["recovery_codes"]
    old = await client.post("/api/auth/login", json=_login(account, mfa_code=codes[2]))
    assert old.status_code == 401
    assert (
        await client.post("/api/auth/login", json=_login(account, mfa_code=new_codes[0]))
    ).status_code == 200
    async with admin_engine.connect() as conn:
        used = (
            (
                await conn.execute(
                    text(
                        "SELECT metadata FROM audit_log WHERE tenant_id = :t "
                        "AND action = 'auth.recovery_code_used' ORDER BY seq"
                    ),
                    {"t": account.tenant_id},
                )
            )
            .scalars()
            .all()
        )
    assert [m["remaining"] for m in used] == [9, 8, 9]
