"""Leads: CRUD, filters, cursor pages, imports with per-row reports, suppression, plan limit."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from artisan.models.user import Role
from tests.factories import make_tenant, make_user, sign_in, signed_in_user


async def test_crud_and_dedup(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client, role=Role.user)
    created = await client.post(
        "/api/leads",
        json={
            "email": "Ada@Example.com",
            "first_name": "Ada",
            "timezone": "Europe/Paris",
            "custom_fields": {"tier": "A"},
        },
        headers=me.headers,
    )
    assert created.status_code == 201, created.text
    lead = created.json()
    assert lead["status"] == "new"
    assert lead["custom_fields"] == {"tier": "A"}
    dup = await client.post("/api/leads", json={"email": "ada@example.COM"}, headers=me.headers)
    assert dup.status_code == 409
    assert dup.json()["code"] == "lead_exists"
    patched = await client.patch(
        f"/api/leads/{lead['id']}",
        json={"company": "Acme", "status": "interested"},
        headers=me.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["company"] == "Acme"
    got = await client.get(f"/api/leads/{lead['id']}", headers=me.headers)
    assert got.json()["status"] == "interested"
    deleted = await client.delete(f"/api/leads/{lead['id']}", headers=me.headers)
    assert deleted.status_code == 204
    assert (await client.get(f"/api/leads/{lead['id']}", headers=me.headers)).status_code == 404


async def test_bad_input(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client)
    for body in (
        {"email": "not-an-email"},
        {"email": "a@example.com", "timezone": "Mars/Olympus"},
        {"email": "a@example.com", "linkedin_url": "https://evil.example.com/in/x"},
        {"email": "a@example.com", "status": "vip"},
        {"email": "a@example.com", "unknown": 1},
        {},
    ):
        response = await client.post("/api/leads", json=body, headers=me.headers)
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/leads?limit=0", headers=me.headers)).status_code == 422
    assert (await client.get("/api/leads?cursor=@@@", headers=me.headers)).status_code == 422
    assert (await client.get("/api/leads/not-a-uuid", headers=me.headers)).status_code == 422
    assert (
        await client.patch(
            "/api/leads/00000000-0000-0000-0000-000000000000",
            json={"email": None},
            headers=me.headers,
        )
    ).status_code == 404
    lead = (
        await client.post("/api/leads", json={"email": "b@example.com"}, headers=me.headers)
    ).json()
    assert (
        await client.patch(f"/api/leads/{lead['id']}", json={"email": None}, headers=me.headers)
    ).status_code == 422
    assert (
        await client.post("/api/leads/import", json={"leads": []}, headers=me.headers)
    ).status_code == 422
    too_many = {"leads": [{"email": f"x{i}@example.com"} for i in range(1001)]}
    assert (
        await client.post("/api/leads/import", json=too_many, headers=me.headers)
    ).status_code == 422
    bad_csv = await client.post(
        "/api/leads/import/csv",
        files={"file": ("l.csv", b"name\nAda\n", "text/csv")},
        headers=me.headers,
    )
    assert bad_csv.status_code == 422
    assert bad_csv.json()["code"] == "invalid_csv"
    unknown_col = await client.post(
        "/api/leads/import/csv",
        files={"file": ("l.csv", b"email,shoe\na@x.com,9\n", "text/csv")},
        headers=me.headers,
    )
    assert unknown_col.status_code == 422
    binary = await client.post(
        "/api/leads/import/csv",
        files={"file": ("l.csv", b"\xff\xfe\x00", "text/csv")},
        headers=me.headers,
    )
    assert binary.status_code == 422
    assert (
        await client.post("/api/leads/suppressions", json={"email": "nope"}, headers=me.headers)
    ).status_code == 422


async def test_list_filters_search_and_pages(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client)
    for i in range(5):
        await client.post(
            "/api/leads",
            json={
                "email": f"p{i}@example.com",
                "company": "Acme" if i % 2 else "Globex",
                "source": "web",
                "first_name": f"Name{i}",
            },
            headers=me.headers,
        )
    page1 = (await client.get("/api/leads?limit=2", headers=me.headers)).json()
    assert len(page1["data"]) == 2
    assert page1["has_more"]
    page2 = (
        await client.get(f"/api/leads?limit=2&cursor={page1['next_cursor']}", headers=me.headers)
    ).json()
    page3 = (
        await client.get(f"/api/leads?limit=2&cursor={page2['next_cursor']}", headers=me.headers)
    ).json()
    emails = [lead["email"] for p in (page1, page2, page3) for lead in p["data"]]
    assert emails == [f"p{i}@example.com" for i in reversed(range(5))]
    assert not page3["has_more"]
    acme = (await client.get("/api/leads?company=acme", headers=me.headers)).json()["data"]
    assert {lead["email"] for lead in acme} == {"p1@example.com", "p3@example.com"}
    search = (await client.get("/api/leads?q=name4", headers=me.headers)).json()["data"]
    assert [lead["email"] for lead in search] == ["p4@example.com"]
    assert (await client.get("/api/leads?q=%25", headers=me.headers)).json()["data"] == []


async def test_json_import_reports_each_row(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client)
    await client.post("/api/leads", json={"email": "old@example.com"}, headers=me.headers)
    response = await client.post(
        "/api/leads/import",
        json={
            "leads": [
                {"email": "new1@example.com", "first_name": "A"},
                {"email": "bad-email"},
                {"email": "OLD@example.com", "company": "Changed"},
                {"email": "new1@example.com"},
                {"email": "new2@example.com", "timezone": "Nowhere/Land"},
                {"email": "new3@example.com", "custom_fields": {"k": 1}},
            ],
            "source": "fair",
        },
        headers=me.headers,
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["received"], report["created"], report["skipped"], report["updated"]) == (
        6,
        2,
        1,
        0,
    )
    assert [r["row"] for r in report["rejected"]] == [2, 4, 5]
    assert "timezone" in report["rejected"][2]["errors"][0]
    listed = (await client.get("/api/leads?source=fair", headers=me.headers)).json()["data"]
    assert {lead["email"] for lead in listed} == {"new1@example.com", "new3@example.com"}
    update = await client.post(
        "/api/leads/import",
        json={
            "leads": [{"email": "old@example.com", "company": "Changed"}],
            "on_duplicate": "update",
        },
        headers=me.headers,
    )
    assert update.json()["updated"] == 1


async def test_csv_import(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client)
    csv_text = (
        "email,first_name,company,custom.industry\n"
        "a@example.com,Ada,Acme,SaaS\n"
        "broken,Bob,,\n"
        "c@example.com,Cy,Globex,\n"
    )
    response = await client.post(
        "/api/leads/import/csv",
        files={"file": ("leads.csv", csv_text.encode(), "text/csv")},
        headers=me.headers,
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 2
    assert [r["row"] for r in report["rejected"]] == [2]
    leads = (await client.get("/api/leads?q=a@example.com", headers=me.headers)).json()["data"]
    assert leads[0]["custom_fields"] == {"industry": "SaaS"}
    assert leads[0]["source"] == "csv"


async def test_plan_limit(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app, limit_overrides={"leads": 3})
    me = await sign_in(client, await make_user(app, tenant))
    report = (
        await client.post(
            "/api/leads/import",
            json={"leads": [{"email": f"l{i}@example.com"} for i in range(5)]},
            headers=me.headers,
        )
    ).json()
    assert report["created"] == 3
    assert [r["row"] for r in report["rejected"]] == [4, 5]
    refused = await client.post(
        "/api/leads", json={"email": "more@example.com"}, headers=me.headers
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "plan_limit_reached"


async def test_suppression_list(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client)
    lead = (
        await client.post("/api/leads", json={"email": "s@example.com"}, headers=me.headers)
    ).json()
    added = await client.post(
        "/api/leads/suppressions",
        json={"email": "S@example.com", "note": "asked"},
        headers=me.headers,
    )
    assert added.status_code == 201
    assert added.json()["lead_id"] == lead["id"]
    again = await client.post(
        "/api/leads/suppressions", json={"email": "s@example.com"}, headers=me.headers
    )
    assert again.status_code == 409
    assert (await client.get(f"/api/leads/{lead['id']}", headers=me.headers)).json()[
        "suppressed"
    ] is True
    listed = (await client.get("/api/leads/suppressions?reason=manual", headers=me.headers)).json()[
        "data"
    ]
    assert [s["email"] for s in listed] == ["s@example.com"]
    removed = await client.delete(
        f"/api/leads/suppressions/{added.json()['id']}", headers=me.headers
    )
    assert removed.status_code == 204
    assert (await client.get(f"/api/leads/{lead['id']}", headers=me.headers)).json()[
        "suppressed"
    ] is False


async def test_cross_tenant_and_scopes(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner = await signed_in_user(app, client)
    other = await signed_in_user(app, client)
    lead = (
        await client.post("/api/leads", json={"email": "mine@example.com"}, headers=owner.headers)
    ).json()
    sup = (
        await client.post(
            "/api/leads/suppressions", json={"email": "x@example.com"}, headers=owner.headers
        )
    ).json()
    assert (await client.get(f"/api/leads/{lead['id']}", headers=other.headers)).status_code == 404
    assert (
        await client.patch(f"/api/leads/{lead['id']}", json={"company": "x"}, headers=other.headers)
    ).status_code == 404
    assert (
        await client.delete(f"/api/leads/{lead['id']}", headers=other.headers)
    ).status_code == 404
    assert (
        await client.delete(f"/api/leads/suppressions/{sup['id']}", headers=other.headers)
    ).status_code == 404
    assert (await client.get("/api/leads", headers=other.headers)).json()["data"] == []
    assert (await client.get("/api/leads/suppressions", headers=other.headers)).json()["data"] == []
    # The other tenant may use the same address: dedup is per tenant.
    assert (
        await client.post("/api/leads", json={"email": "mine@example.com"}, headers=other.headers)
    ).status_code == 201
    assert (await client.get("/api/leads")).status_code == 401


async def test_csv_imports_read_headers_as_people_write_them(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    me = await signed_in_user(app, client)

    async def upload(content: bytes, **params: str) -> httpx.Response:
        return await client.post(
            "/api/leads/import/csv",
            params=params,
            files={"file": ("leads.csv", content, "text/csv")},
            headers=me.headers,
        )

    semicolons = (
        "\ufeffE-mail;First Name;last_name;Company Name;Job Title;custom.Seats;custom.ARR\n"
        "ada@example.com;Ada;Lovelace;Acme;CTO;12;1.5e6\n"
    ).encode()
    report = (await upload(semicolons)).json()
    assert report["created"] == 1, report
    assert report["delimiter"] == ";"
    assert {c["header"]: c["field"] for c in report["columns"]} == {
        "E-mail": "email",
        "First Name": "first_name",
        "last_name": "last_name",
        "Company Name": "company",
        "Job Title": "title",
        "custom.Seats": "custom.Seats",
        "custom.ARR": "custom.ARR",
    }
    ada = (await client.get("/api/leads?q=ada@", headers=me.headers)).json()["data"][0]
    assert (ada["first_name"], ada["company"], ada["title"]) == ("Ada", "Acme", "CTO")
    assert ada["custom_fields"] == {"Seats": "12", "ARR": "1.5e6"}  # text unless asked
    tabs = b"EMAIL\tfirstname\tcustom.seats\tcustom.note\nbob@example.com\tBob\t7\t007\n"
    typed = (await upload(tabs, infer_types="true")).json()
    assert typed["delimiter"] == "\t"
    bob = (await client.get("/api/leads?q=bob@", headers=me.headers)).json()["data"][0]
    assert bob["custom_fields"] == {"seats": 7, "note": 7}
    # Two headers for one field, or a header naming nothing, are refused with the names.
    twice = await upload(b"email,E-mail\na@example.com,b@example.com\n")
    assert twice.status_code == 422
    assert twice.json()["fields"] == ["email"]
    unknown = await upload(b"email,shoe size\nc@example.com,9\n")
    assert unknown.json()["columns"] == ["shoe size"]
