"""Tenant admins invite, change and remove users; the last admin is protected."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from artisan.models.user import Role
from tests.factories import load_tenant, make_tenant, make_user, sign_in, signed_in_user


def users_url(tenant_id: object, user_id: object | None = None) -> str:
    base = f"/api/admin/{tenant_id}/users"
    return f"{base}/{user_id}" if user_id else base


async def test_invite_then_accept_signs_the_user_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    invited = await client.post(
        users_url(admin.tenant_id),
        headers=admin.headers,
        json={"email": "new.hire@example.com", "full_name": "New Hire", "role": "manager"},
    )
    assert invited.status_code == 201, invited.text
    body = invited.json()
    assert body["role"] == "manager"
    assert body["invitation_pending"] is True
    token = body["invitation_token"]
    shown = (await client.get(users_url(admin.tenant_id, body["id"]), headers=admin.headers)).json()
    assert "invitation_token" not in shown

    accepted = await client.post(
        "/api/auth/invitations/accept", json={"token": token, "password": "a-brand-new-password"}
    )
    assert accepted.status_code == 200, accepted.text
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {accepted.json()['access_token']}"}
    )
    assert me.json()["role"] == "manager"
    again = await client.post(
        "/api/auth/invitations/accept", json={"token": token, "password": "a-brand-new-password"}
    )
    assert again.status_code == 401
    login = await client.post(
        "/api/auth/login",
        json={"email": "new.hire@example.com", "password": "a-brand-new-password"},
    )
    assert login.status_code == 200


async def test_invite_bad_input_and_duplicates(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, client, email="boss@example.com")
    url = users_url(admin.tenant_id)
    for bad in (
        {"email": "nope", "full_name": "X"},
        {"email": "x@example.com", "full_name": ""},
        {"email": "x@example.com", "full_name": "X", "role": "owner"},
        {"email": "x@example.com", "full_name": "X", "password": "sneaky"},
    ):
        response = await client.post(url, headers=admin.headers, json=bad)
        assert response.status_code == 422, bad
    duplicate = await client.post(
        url, headers=admin.headers, json={"email": "BOSS@example.com", "full_name": "X"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "email_taken"
    listed = (await client.get(url, headers=admin.headers)).json()["data"]
    assert len(listed) == 1


async def test_list_filters(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    admin = await sign_in(client, await make_user(app, tenant, email="admin@example.com"))
    await make_user(app, tenant, role=Role.user, email="alice@example.com")
    await make_user(app, tenant, role=Role.user, email="bob@example.com", is_active=False)
    url = users_url(tenant.id)
    by_role = (await client.get(url, headers=admin.headers, params={"role": "user"})).json()["data"]
    assert sorted(u["email"] for u in by_role) == ["alice@example.com", "bob@example.com"]
    active = (await client.get(url, headers=admin.headers, params={"is_active": False})).json()[
        "data"
    ]
    assert [u["email"] for u in active] == ["bob@example.com"]
    search = (await client.get(url, headers=admin.headers, params={"q": "ALI"})).json()["data"]
    assert [u["email"] for u in search] == ["alice@example.com"]
    # Wildcards are searched for literally: `%` and `_` match no one here.
    for wildcard in ("%", "_"):
        found = await client.get(url, headers=admin.headers, params={"q": wildcard})
        assert found.json()["data"] == [], wildcard
    assert all("password_hash" not in u and "mfa_secret_encrypted" not in u for u in by_role)
    bad = await client.get(url, headers=admin.headers, params={"role": "emperor"})
    assert bad.status_code == 422


async def test_change_role_and_deactivate_take_effect_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    admin = await sign_in(client, await make_user(app, tenant))
    member = await sign_in(client, await make_user(app, tenant, role=Role.user))
    url = users_url(tenant.id, member.user_id)
    assert (
        await client.get(f"/api/admin/{tenant.id}/usage", headers=member.headers)
    ).status_code == 403
    promoted = await client.patch(url, headers=admin.headers, json={"role": "manager"})
    assert promoted.json()["role"] == "manager"
    # Roles are read from the database on each request, not from the token.
    assert (
        await client.get(f"/api/admin/{tenant.id}/usage", headers=member.headers)
    ).status_code == 200
    deactivated = await client.patch(url, headers=admin.headers, json={"is_active": False})
    assert deactivated.json()["is_active"] is False
    assert (await client.get("/api/auth/me", headers=member.headers)).status_code == 401
    invalid = await client.patch(url, headers=admin.headers, json={"role": "root"})
    assert invalid.status_code == 422


async def test_last_admin_cannot_be_demoted_deactivated_or_deleted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    url = users_url(admin.tenant_id, admin.user_id)
    for change in ({"role": "manager"}, {"is_active": False}):
        response = await client.patch(url, headers=admin.headers, json=change)
        assert response.status_code == 409, change
        assert response.json()["code"] == "last_admin"
    deleted = await client.delete(url, headers=admin.headers)
    assert deleted.status_code == 409
    me = (await client.get("/api/auth/me", headers=admin.headers)).json()
    assert me["role"] == "admin"


async def test_an_admin_can_step_down_when_another_admin_exists(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    first = await sign_in(client, await make_user(app, tenant))
    second = await make_user(app, tenant)
    demoted = await client.patch(
        users_url(tenant.id, first.user_id), headers=first.headers, json={"role": "user"}
    )
    assert demoted.status_code == 200
    # Now `second` is the last admin.
    second = await sign_in(client, second)
    blocked = await client.delete(users_url(tenant.id, second.user_id), headers=second.headers)
    assert blocked.status_code == 409


async def test_delete_user(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    admin = await sign_in(client, await make_user(app, tenant))
    member = await sign_in(client, await make_user(app, tenant, role=Role.user))
    response = await client.delete(users_url(tenant.id, member.user_id), headers=admin.headers)
    assert response.status_code == 204
    assert (
        await client.get(users_url(tenant.id, member.user_id), headers=admin.headers)
    ).status_code == 404
    assert (await client.get("/api/auth/me", headers=member.headers)).status_code == 401


async def test_only_admins_manage_users(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    manager = await sign_in(client, await make_user(app, tenant, role=Role.manager))
    response = await client.get(users_url(tenant.id), headers=manager.headers)
    assert response.status_code == 403
    invite = await client.post(
        users_url(tenant.id),
        headers=manager.headers,
        json={"email": "z@example.com", "full_name": "Z"},
    )
    assert invite.status_code == 403


async def test_cross_tenant_user_routes_are_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    mine = await signed_in_user(app, client)
    theirs = await signed_in_user(app, client)
    their_user = users_url(theirs.tenant_id, theirs.user_id)
    # Their tenant's paths, and their user id under my tenant's path: both invisible.
    for method, path in (
        ("GET", users_url(theirs.tenant_id)),
        ("POST", users_url(theirs.tenant_id)),
        ("GET", their_user),
        ("PATCH", their_user),
        ("DELETE", their_user),
        ("GET", users_url(mine.tenant_id, theirs.user_id)),
        ("PATCH", users_url(mine.tenant_id, theirs.user_id)),
        ("DELETE", users_url(mine.tenant_id, theirs.user_id)),
    ):
        body = {"full_name": "Hijacked"}
        if method == "POST":
            body["email"] = "h@example.com"
        response = await client.request(method, path, headers=mine.headers, json=body)
        assert response.status_code == 404, (method, path)
    still = (await client.get(their_user, headers=theirs.headers)).json()
    assert still["full_name"] != "Hijacked"


async def test_invitations_can_be_resent_and_revoked_until_accepted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    url = users_url(admin.tenant_id)
    invited = await client.post(
        url, headers=admin.headers, json={"email": "carol@example.com", "full_name": "Carol"}
    )
    first_token = invited.json()["invitation_token"]
    user_id = invited.json()["id"]
    resent = await client.post(f"{url}/{user_id}/invitation", headers=admin.headers)
    assert resent.status_code == 200, resent.text
    second_token = resent.json()["invitation_token"]
    assert second_token != first_token
    accept = "/api/auth/invitations/accept"
    stale = await client.post(accept, json={"token": first_token, "password": "a-long-password"})
    assert stale.status_code == 401
    accepted = await client.post(
        accept, json={"token": second_token, "password": "a-long-password"}
    )
    assert accepted.status_code == 200, accepted.text
    # Accepted: nothing left to resend or revoke.
    for method in ("POST", "DELETE"):
        done = await client.request(method, f"{url}/{user_id}/invitation", headers=admin.headers)
        assert done.status_code == 409
        assert done.json()["code"] == "no_pending_invitation"
    # A pending invitation is withdrawn with its user, and its token stops.
    pending = await client.post(
        url, headers=admin.headers, json={"email": "dan@example.com", "full_name": "Dan"}
    )
    revoked = await client.delete(f"{url}/{pending.json()['id']}/invitation", headers=admin.headers)
    assert revoked.status_code == 204
    gone = await client.get(f"{url}/{pending.json()['id']}", headers=admin.headers)
    assert gone.status_code == 404
    refused = await client.post(
        accept, json={"token": pending.json()["invitation_token"], "password": "a-long-password"}
    )
    assert refused.status_code == 401
    # Other tenants and lesser roles reach none of it.
    other = await signed_in_user(app, client)
    manager = await signed_in_user(
        app, client, role=Role.manager, tenant=await load_tenant(app, admin.tenant_id)
    )
    for account, status in ((other, 404), (manager, 403)):
        response = await client.post(f"{url}/{user_id}/invitation", headers=account.headers)
        assert response.status_code == status
        assert (
            await client.delete(f"{url}/{user_id}/invitation", headers=account.headers)
        ).status_code == status
    assert (
        await client.post(f"{url}/not-a-uuid/invitation", headers=admin.headers)
    ).status_code == 422
