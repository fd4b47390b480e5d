"""Problem+json everywhere, request ids, security headers, body limits, HTTPS and CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.models.user import AuthSession
from tests.conftest import client_for
from tests.factories import make_tenant, make_user


async def test_framework_errors_are_problems(client: httpx.AsyncClient) -> None:
    not_found = await client.get("/no/such/route")
    assert not_found.status_code == 404
    assert not_found.headers["content-type"].startswith("application/problem+json")
    assert not_found.json()["code"] == "not_found"
    wrong_method = await client.put("/health")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"
    malformed = await client.post(
        "/api/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422
    body = malformed.json()
    assert {"type", "title", "status", "detail", "code", "request_id", "errors"} <= body.keys()
    assert body["request_id"] == malformed.headers["x-request-id"]


async def test_request_id_is_echoed_or_minted(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/health", headers={"X-Request-ID": "abc-123.def"})
    assert echoed.headers["x-request-id"] == "abc-123.def"
    hostile = await client.get("/health", headers={"X-Request-ID": "bad id\twith<script>"})
    assert hostile.headers["x-request-id"] != "bad id\twith<script>"
    assert len(hostile.headers["x-request-id"]) == 32
    minted = await client.get("/health")
    assert len(minted.headers["x-request-id"]) == 32


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/health"), await client.get("/nowhere")):
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert headers["cross-origin-opener-policy"] == "same-origin"
        assert headers["content-security-policy"].startswith("default-src 'none'")
        assert headers["x-response-time"].endswith("ms")
        assert "strict-transport-security" not in headers
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "cdn.jsdelivr.net" in docs.headers["content-security-policy"]


async def test_body_over_limit_is_refused_while_streaming(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = app_factory(max_request_body_size=2048)
    async with client_for(app) as http:
        declared = await http.post(
            "/api/auth/signup", content=b"x" * 4096, headers={"content-type": "application/json"}
        )
        assert declared.status_code == 413
        assert declared.json()["code"] == "payload_too_large"

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(8):
                yield b"y" * 1024

        streamed = await http.post(
            "/api/auth/signup", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert streamed.json()["code"] == "payload_too_large"
        small = await http.post("/api/auth/signup", json={"company_name": "x"})
        assert small.status_code == 422


async def test_https_redirect_and_hsts(app_factory: Callable[..., FastAPI]) -> None:
    app = app_factory(enable_https_redirect=True, trusted_proxies=["127.0.0.1"])
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.example.com") as http:
        plain = await http.get("/api/auth/me?x=1")
        assert plain.status_code == 308
        assert plain.headers["location"] == "https://api.example.com/api/auth/me?x=1"
        proxied = await http.get("/api/auth/me", headers={"X-Forwarded-Proto": "https"})
        assert proxied.status_code == 401
        assert "max-age" in proxied.headers["strict-transport-security"]
        health = await http.get("/health")
        assert health.status_code == 200
    untrusted = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
    async with httpx.AsyncClient(transport=untrusted, base_url="http://api.example.com") as http:
        spoofed = await http.get("/api/auth/me", headers={"X-Forwarded-Proto": "https"})
        assert spoofed.status_code == 308


async def test_cors_allows_configured_origins_only(app_factory: Callable[..., FastAPI]) -> None:
    app = app_factory(cors_origins=["https://app.example.com"])
    async with client_for(app) as http:
        allowed = await http.options(
            "/api/auth/login",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
        )
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        denied = await http.options(
            "/api/auth/login",
            headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in denied.headers


async def test_openapi_documents_problems_and_auth(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "ProblemDetail" in schema["components"]["schemas"]
    login = schema["paths"]["/api/auth/login"]["post"]
    assert "401" in login["responses"]
    assert "application/problem+json" in login["responses"]["401"]["content"]
    assert "OAuth2PasswordBearer" in schema["components"]["securitySchemes"]
    assert (await client.get("/redoc")).status_code == 200


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/auth/logout", "/api/auth/mfa/setup"])
async def test_protected_routes_require_credentials(client: httpx.AsyncClient, path: str) -> None:
    method = "GET" if path.endswith("/me") else "POST"
    response = await client.request(method, path)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_client_ip_honours_forwarded_for_only_from_trusted_proxies(
    app: FastAPI, admin_engine: AsyncEngine
) -> None:
    tenant = await make_tenant(app)
    account = await make_user(app, tenant)
    credentials = {"email": account.email, "password": account.password}
    forwarded = {"X-Forwarded-For": "198.51.100.7, 127.0.0.1"}
    for peer in ("127.0.0.1", "203.0.113.9"):
        transport = httpx.ASGITransport(app=app, client=(peer, 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            assert (
                await http.post("/api/auth/login", json=credentials, headers=forwarded)
            ).status_code == 200
    async with admin_engine.connect() as conn:
        addresses = (
            (
                await conn.execute(
                    select(AuthSession.ip_address)
                    .where(AuthSession.user_id == account.user_id)
                    .order_by(AuthSession.id)
                )
            )
            .scalars()
            .all()
        )
    # Behind the trusted proxy the client is the forwarded address; a direct peer is itself.
    assert addresses == ["198.51.100.7", "203.0.113.9"]


async def test_unexpected_errors_are_500_problems_with_a_logged_trace(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/test-only/explode", explode)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/test-only/explode", headers={"X-Request-ID": "trace-me"})
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error"
    assert body["request_id"] == "trace-me"
    assert "boom" not in body["detail"]
    logged = [r for r in caplog.records if "unhandled_exception" in str(r.msg)]
    assert logged
    assert logged[0].exc_info is not None


async def test_text_postgresql_cannot_store_is_a_422(client: httpx.AsyncClient) -> None:
    # A NUL character and a lone surrogate are valid JSON escapes but not storable text: the
    # surrogate is refused by validation, the NUL by PostgreSQL (mapped to the same 4xx family).
    for company, code in (
        ("Acme\\u0000Corp", "invalid_text"),
        ("Acme\\udac8Corp", "validation_error"),
    ):
        body = (
            '{"company_name": "' + company + '", "email": "nul@example.com", '
            '"password": "a-long-password", "name": "N"}'
        )
        response = await client.post(
            "/api/auth/signup", content=body.encode(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert response.json()["code"] == code
    # Nothing was created: the same email signs up cleanly afterwards.
    clean = await client.post(
        "/api/auth/signup",
        json={
            "company_name": "Acme",
            "email": "nul@example.com",
            "password": "a-long-password",
            "name": "N",
        },
    )
    assert clean.status_code == 201


async def test_the_openapi_document_declares_errors_as_problem_json(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    declared = [
        (path, method, status, response.get("content"))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status[:1] in ("4", "5")
    ]
    assert len(declared) > 100
    wrong = [
        entry
        for entry in declared
        if entry[3]
        != {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}
    ]
    assert wrong == []
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert {"code", "errors", "request_id"} <= set(schemas["ProblemDetail"]["properties"])
    # And what is declared is what is sent, validation errors included.
    refused = await client.post("/api/auth/login", json={"email": 1})
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["errors"]
