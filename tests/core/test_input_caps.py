"""Every text a request can carry has a maximum length and every list a maximum count, as the
OpenAPI document declares them; a request past a cap is a 422 problem that stores nothing."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.factories import signed_in_user

# Strings these formats describe are bounded by their grammar; an upload by the body size limit.
_BOUNDED_FORMATS = frozenset({"uuid", "date-time", "date", "time", "binary"})


def _uncapped(document: dict[str, Any]) -> list[str]:
    components = document["components"]["schemas"]
    found: set[str] = set()

    def walk(schema: dict[str, Any], where: str, seen: frozenset[str]) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(components[name], f"{where} -> {name}", seen | {name})
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key, []):
                walk(sub, where, seen)
        kind = schema.get("type")
        if kind == "string":
            bounded = (
                "enum" in schema
                or "const" in schema
                or schema.get("format") in _BOUNDED_FORMATS
                or "contentMediaType" in schema
            )
            if not bounded and "maxLength" not in schema:
                found.add(f"string without maxLength: {where}")
        if kind == "array":
            if "maxItems" not in schema:
                found.add(f"array without maxItems: {where}")
            walk(schema.get("items", {}), f"{where}[]", seen)
        for name, sub in schema.get("properties", {}).items():
            walk(sub, f"{where}.{name}", seen)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            walk(extra, f"{where}{{*}}", seen)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            route = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                walk(parameter.get("schema", {}), f"{route} ?{parameter['name']}", frozenset())
            for content in operation.get("requestBody", {}).get("content", {}).values():
                walk(content.get("schema", {}), f"{route} body", frozenset())
    return sorted(found)


def test_the_walker_finds_an_uncapped_string_and_list() -> None:
    document = {
        "components": {"schemas": {"Body": {"properties": {"name": {"type": "string"}}}}},
        "paths": {
            "/x": {
                "post": {
                    "parameters": [
                        {
                            "name": "tags",
                            "schema": {"type": "array", "maxItems": 3, "items": {"type": "string"}},
                        }
                    ],
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Body"}}
                        }
                    },
                }
            }
        },
    }
    assert _uncapped(document) == [
        "string without maxLength: POST /x ?tags[]",
        "string without maxLength: POST /x body -> Body.name",
    ]


async def test_every_request_string_and_list_is_capped(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert _uncapped(document) == []


async def test_a_value_past_its_cap_is_refused_and_stores_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    too_long = "a" * 320 + "@example.com"
    for path, body in (
        ("/api/leads", {"email": too_long}),
        ("/api/leads", {"email": "ok@example.com", "timezone": "E" * 65}),
        (f"/api/admin/{admin.tenant_id}/users", {"email": too_long, "full_name": "X"}),
        (
            f"/api/admin/{admin.tenant_id}/api-keys",
            {"name": "k", "scopes": ["leads:read"], "allowed_ips": ["1" * 65]},
        ),
    ):
        response = await client.post(path, json=body, headers=admin.headers)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/leads", headers=admin.headers)).json()["data"] == []
    keys = await client.get(f"/api/admin/{admin.tenant_id}/api-keys", headers=admin.headers)
    assert keys.json()["data"] == []
