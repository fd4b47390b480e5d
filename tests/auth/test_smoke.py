"""A first end-to-end pass: sign up, read /me, see the tenant."""

from __future__ import annotations

import httpx


async def test_signup_then_me(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/signup",
        json={"company_name": "Acme Corp", "email": "Ada@Acme.example.com", "password": "a-long-password", "name": "Ada"},
    )
    assert response.status_code == 201, response.text
    tokens = response.json()
    me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["email"].lower() == "ada@acme.example.com"
    assert body["role"] == "admin"
    assert body["tenant"]["slug"] == "acme-corp"
    assert body["tenant"]["plan"] == "starter"
    assert body["tenant"]["trial_ends_at"] is not None
