"""A user's own account: one sign-up per admin email, another tenant on request, the password,
and their sign-in sessions."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import datetime

import httpx
import pyotp
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import (
    DEFAULT_PASSWORD,
    SIGNUP,
    Account,
    bearer,
    load_tenant,
    make_user,
    sign_in,
    signed_in_user,
)


async def _tenant_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM tenants"))).scalar_one())


async def test_signing_up_again_as_an_admin_is_a_409_and_another_tenant_is_explicit(
    client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    first = await client.post("/api/auth/signup", json=SIGNUP)
    assert first.status_code == 201, first.text
    before = await _tenant_count(admin_engine)
    again = await client.post(
        "/api/auth/signup",
        json={**SIGNUP, "company_name": "Acme Two", "email": "ADA@acme.example.com"},
    )
    assert again.status_code == 409
    assert again.json()["code"] == "email_registered"
    assert await _tenant_count(admin_engine) == before
    # Signed in, the same person creates a second company on purpose.
    headers = bearer(first.json()["access_token"])
    second = await client.post(
        "/api/auth/tenants", json={"company_name": "Acme Two"}, headers=headers
    )
    assert second.status_code == 201, second.text
    assert second.json()["tenant_id"] != first.json()["tenant_id"]
    me = (await client.get("/api/auth/me", headers=bearer(second.json()["access_token"]))).json()
    assert (me["tenant"]["slug"], me["role"]) == ("acme-two", "admin")
    # Signing in names the tenant when the email is in several, with the same password.
    ambiguous = await client.post(
        "/api/auth/login", json={"email": SIGNUP["email"], "password": SIGNUP["password"]}
    )
    assert ambiguous.status_code == 409
    assert ambiguous.json()["tenant_slugs"] == ["acme-corp", "acme-two"]
    chosen = await client.post(
        "/api/auth/login",
        json={"email": SIGNUP["email"], "password": SIGNUP["password"], "tenant_slug": "acme-two"},
    )
    assert chosen.status_code == 200
    bad = await client.post("/api/auth/tenants", json={"company_name": ""}, headers=headers)
    assert bad.status_code == 422
    assert (await client.post("/api/auth/tenants", json={"company_name": "X"})).status_code == 401


async def test_another_tenant_keeps_two_factor_sign_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    setup = (await client.post("/api/auth/mfa/setup", headers=admin.headers)).json()
    totp = pyotp.TOTP(setup["secret"])
    enabled = await client.post(
        "/api/auth/mfa/enable", json={"code": totp.now()}, headers=admin.headers
    )
    assert enabled.status_code == 200
    created = await client.post(
        "/api/auth/tenants", json={"company_name": "Second Co"}, headers=admin.headers
    )
    assert created.status_code == 201
    no_code = await client.post(
        "/api/auth/login",
        json={"email": admin.email, "password": admin.password, "tenant_slug": "second-co"},
    )
    assert no_code.status_code == 401
    assert no_code.json()["code"] == "mfa_required"


async def test_changing_the_password_ends_every_other_session(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    first = await signed_in_user(app, client)
    second = await sign_in(client, replace(first))  # the same user on another device
    wrong = await client.post(
        "/api/auth/password",
        json={"current_password": "not-it", "new_password": "a-brand-new-password"},
        headers=first.headers,
    )
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "invalid_password"
    short = await client.post(
        "/api/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "short"},
        headers=first.headers,
    )
    assert short.status_code == 422
    changed = await client.post(
        "/api/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "a-brand-new-password"},
        headers=first.headers,
    )
    assert changed.status_code == 204, changed.text
    assert (await client.get("/api/auth/me", headers=first.headers)).status_code == 200
    assert (await client.get("/api/auth/me", headers=second.headers)).status_code == 401
    old = await client.post(
        "/api/auth/login", json={"email": first.email, "password": DEFAULT_PASSWORD}
    )
    assert old.status_code == 401
    new = await client.post(
        "/api/auth/login", json={"email": first.email, "password": "a-brand-new-password"}
    )
    assert new.status_code == 200
    async with admin_engine.connect() as conn:
        entry = await conn.execute(
            text(
                "SELECT metadata FROM audit_log WHERE tenant_id = :t "
                "AND action = 'user.password_changed'"
            ),
            {"t": first.tenant_id},
        )
        assert entry.scalar_one()["sessions_ended"] == 1


async def test_users_list_and_end_their_own_sessions_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    laptop = await signed_in_user(app, client)
    phone = await sign_in(client, replace(laptop))
    colleague: Account = await sign_in(
        client,
        await make_user(app, await load_tenant(app, laptop.tenant_id), email="bob@example.com"),
    )
    listed = await client.get("/api/auth/sessions", headers=laptop.headers)
    assert listed.status_code == 200
    sessions = listed.json()["data"]
    assert len(sessions) == 2
    assert [s["current"] for s in sessions].count(True) == 1
    assert all(s["last_used_at"] and s["created_at"] for s in sessions)
    other_device = next(s for s in sessions if not s["current"])
    # A colleague's session, or one that does not exist, is a 404 and stays signed in.
    colleague_session = (await client.get("/api/auth/sessions", headers=colleague.headers)).json()[
        "data"
    ][0]["id"]
    for missing in (colleague_session, str(uuid.uuid4())):
        refused = await client.delete(f"/api/auth/sessions/{missing}", headers=laptop.headers)
        assert refused.status_code == 404
    assert (await client.get("/api/auth/me", headers=colleague.headers)).status_code == 200
    ended = await client.delete(f"/api/auth/sessions/{other_device['id']}", headers=laptop.headers)
    assert ended.status_code == 204
    assert (await client.get("/api/auth/me", headers=phone.headers)).status_code == 401
    assert (await client.get("/api/auth/me", headers=laptop.headers)).status_code == 200
    remaining = (await client.get("/api/auth/sessions", headers=laptop.headers)).json()["data"]
    assert [s["current"] for s in remaining] == [True]
    assert (
        await client.delete("/api/auth/sessions/not-a-uuid", headers=laptop.headers)
    ).status_code == 422
    assert (await client.get("/api/auth/sessions")).status_code == 401


async def test_a_sessions_last_use_is_its_latest_refresh(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    account = await signed_in_user(app, client)
    login = await client.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    signed_in = login.json()
    own = bearer(signed_in["access_token"])

    def this_session(listed: httpx.Response) -> dict[str, str]:
        return next(s for s in listed.json()["data"] if s["current"])

    fresh = this_session(await client.get("/api/auth/sessions", headers=own))
    assert fresh["last_used_at"] == fresh["created_at"]
    refreshed = await client.post(
        "/api/auth/refresh", json={"refresh_token": signed_in["refresh_token"]}
    )
    assert refreshed.status_code == 200
    renewed = bearer(refreshed.json()["access_token"])
    used = this_session(await client.get("/api/auth/sessions", headers=renewed))
    assert used["id"] == fresh["id"]
    assert used["created_at"] == fresh["created_at"]
    assert datetime.fromisoformat(used["last_used_at"]) > datetime.fromisoformat(
        fresh["last_used_at"]
    )


async def test_swaggers_authorize_form_carries_the_mfa_code_and_the_tenant(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    setup = (await client.post("/api/auth/mfa/setup", headers=admin.headers)).json()
    totp = pyotp.TOTP(setup["secret"])
    await client.post("/api/auth/mfa/enable", json={"code": totp.now()}, headers=admin.headers)
    await client.post("/api/auth/tenants", json={"company_name": "Twin Co"}, headers=admin.headers)
    form = {"username": admin.email, "password": admin.password, "grant_type": "password"}
    # Without the code: refused as MFA-required; with the tenant missing: which one is asked.
    needs_code = await client.post("/api/auth/token", data={**form, "client_id": admin.tenant_slug})
    assert needs_code.json()["code"] == "mfa_required"
    which = await client.post("/api/auth/token", data=form)
    assert which.json()["code"] == "tenant_slug_required"
    # In the body, as Swagger sends it with "request body" credentials (the next code: the one
    # that enabled MFA is spent)...
    step = int(time.time()) // 30
    in_body = await client.post(
        "/api/auth/token",
        data={**form, "client_id": admin.tenant_slug, "client_secret": totp.at((step + 1) * 30)},
    )
    assert in_body.status_code == 200, in_body.text
    # ...and as the Basic header it sends by default, after the spent steps are forgotten.
    async with admin_engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET mfa_last_step = NULL WHERE id = :id"), {"id": admin.user_id}
        )
    basic = httpx.BasicAuth(admin.tenant_slug, totp.now())
    in_header = await client.post("/api/auth/token", data=form, auth=basic)
    assert in_header.status_code == 200, in_header.text
    assert in_header.json()["tenant_id"] == str(admin.tenant_id)


def test_the_auth_guide_states_each_roles_scopes() -> None:
    import re
    from pathlib import Path

    from artisan.auth.scopes import ROLE_SCOPES, SCOPES
    from artisan.models.user import Role

    guide = (Path(__file__).resolve().parents[2] / "docs" / "auth.md").read_text()
    table = guide[guide.index("| scope | user | manager | admin |") :]
    stated: dict[str, set[str]] = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        for scope in re.findall(r"`([a-z_]+:[a-z_]+)`", cells[0]):
            stated[scope] = {
                r for r, cell in zip(("user", "manager", "admin"), cells[1:4], strict=True) if cell
            }
    assert set(stated) == set(SCOPES)
    for scope, roles in stated.items():
        assert roles == {r.value for r in Role if scope in ROLE_SCOPES[r]}, scope
