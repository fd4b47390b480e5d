"""Every analytics figure against a plain scan of the raw events, on random event streams."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.analytics.rebuild import rebuild_tenant
from tests.campaigns.helpers import make_campaign, make_lead
from tests.factories import signed_in_user

# Written independently of the service: which metrics each event type counts towards.
TYPE_METRICS = {
    "email.sent": ["contacted", "sent"],
    "email.delivered": ["delivered"],
    "email.opened": ["opened"],
    "email.clicked": ["clicked"],
    "email.replied": ["replied"],
    "email.bounced": ["bounced"],
    "email.unsubscribed": ["unsubscribed"],
    "email.spam_reported": ["spam_reported"],
    "linkedin.connection_sent": ["contacted", "connection_sent"],
    "linkedin.connection_accepted": ["connection_accepted"],
    "linkedin.message_sent": ["contacted", "sent"],
    "linkedin.replied": ["replied"],
    "call.completed": ["contacted", "call_completed"],
    "meeting.booked": ["meeting_booked"],
    "meeting.held": ["meeting_held"],
}
STEPS = [
    {"channel": "email", "subject": "Hi {{first_name}}", "body": "b"},
    {"channel": "linkedin", "body": "b"},
    {"channel": "email", "subject": "s", "body": "b"},
]
START = datetime(2026, 3, 1, tzinfo=UTC)
SPAN_DAYS = 40  # covers the US (Mar 8) and EU (Mar 29) DST changes of 2026


def metrics(event: dict[str, Any]) -> list[str]:
    """Metrics of one raw event."""
    found = list(TYPE_METRICS[event["type"]])
    if found == ["replied"] and (event["properties"] or {}).get("sentiment") == "positive":
        found.append("positive_replied")
    return found


def random_events(
    rng: random.Random, campaigns: list[dict], leads: list[dict], n: int
) -> list[dict]:
    """Random events with distinct timestamps (so 'first' is never a tie)."""
    seconds = rng.sample(range(SPAN_DAYS * 86400), n)
    events = []
    for i, offset in enumerate(seconds):
        kind = rng.choice(list(TYPE_METRICS))
        prefix = kind.split(".")[0]
        if prefix == "email":
            step = rng.choice([1, 3, None])
        elif prefix == "linkedin":
            step = rng.choice([2, None])
        elif prefix == "meeting":
            step = rng.choice([1, 2, None])
        else:
            step = None
        event: dict[str, Any] = {
            "type": kind,
            "campaign_id": rng.choice(campaigns)["id"],
            "lead_id": rng.choice(leads)["id"],
            "occurred_at": (START + timedelta(seconds=offset)).isoformat(),
            "client_id": f"c{i}",
            "properties": {},
        }
        if step is not None:
            event["step"] = step
        if kind.endswith("replied"):
            event["properties"] = {"sentiment": rng.choice(["positive", "neutral", "negative"])}
        events.append(event)
    return events


async def raw_events(admin_engine: AsyncEngine, tenant_id: Any) -> list[dict[str, Any]]:
    """Every stored event of a tenant, read straight from the table."""
    async with admin_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT type, channel, campaign_id::text AS campaign_id, lead_id::text AS lead_id, "
                "step, occurred_at, properties, simulated FROM events WHERE tenant_id = :t"
            ),
            {"t": tenant_id},
        )
        return [dict(row._mapping) for row in rows]


def firsts(events: list[dict], with_step: bool = False) -> dict[tuple, tuple[datetime, str]]:
    """Each unit's first occurrence of each metric: time and channel."""
    found: dict[tuple, tuple[datetime, str]] = {}
    for e in events:
        for m in metrics(e):
            keys = [(e["campaign_id"], e["lead_id"], e["simulated"], m, 0)]
            if with_step and e["step"]:
                keys.append((e["campaign_id"], e["lead_id"], e["simulated"], m, e["step"]))
            for key in keys:
                if key not in found or e["occurred_at"] < found[key][0]:
                    found[key] = (e["occurred_at"], e["channel"])
    return found


def counts_in(
    events: list[dict],
    lower: datetime,
    upper: datetime,
    mode: str,
    sim: bool,
    campaign: str | None = None,
    channel: str | None = None,
) -> dict[str, int]:
    """Metric counts (unique or total) within [lower, upper)."""
    scope = [
        e
        for e in events
        if (sim or not e["simulated"]) and (campaign is None or e["campaign_id"] == campaign)
    ]
    result: dict[str, int] = defaultdict(int)
    if mode == "total":
        for e in scope:
            if lower <= e["occurred_at"] < upper and (channel is None or e["channel"] == channel):
                for m in metrics(e):
                    result[m] += 1
    else:
        for (_, _, _, m, step), (at, ch) in firsts(scope).items():
            if step == 0 and lower <= at < upper and (channel is None or ch == channel):
                result[m] += 1
    return {k: v for k, v in result.items() if v}


def expected_rates(c: dict[str, int]) -> tuple[int, dict[str, float | None]]:
    """The documented formulas, written out again."""
    base = c.get("delivered", 0) or max(0, c.get("sent", 0) - c.get("bounced", 0))
    names = {
        "open_rate": "opened",
        "click_rate": "clicked",
        "reply_rate": "replied",
        "positive_reply_rate": "positive_replied",
        "unsubscribe_rate": "unsubscribed",
        "meeting_rate": "meeting_booked",
    }
    rates: dict[str, float | None] = {
        k: (c.get(m, 0) / base if base else None) for k, m in names.items()
    }
    rates["bounce_rate"] = c.get("bounced", 0) / c["sent"] if c.get("sent") else None
    return base, rates


def assert_figures(got: dict, counts: dict[str, int]) -> None:
    """A Figures object equals the plain computation."""
    assert got["counts"] == counts
    base, rates = expected_rates(counts)
    assert got["delivered"] == base
    assert got["rates"] == pytest.approx(rates)


def midnight(day: date, tz: ZoneInfo) -> datetime:
    """A local date's first instant."""
    return datetime.combine(day, time(0), tzinfo=tz)


def expected_series(
    raw: list[dict],
    tz: ZoneInfo,
    lo_day: date,
    hi_day: date,
    *,
    metric: str,
    mode: str,
    campaign: str | None,
    channel: str | None,
    interval: str,
) -> dict[datetime, int]:
    """A plain bucketing of the raw events in local time."""
    lower, upper = midnight(lo_day, tz), midnight(hi_day + timedelta(days=1), tz)
    series: dict[datetime, int] = defaultdict(int)
    scope = [
        e for e in raw if not e["simulated"] and (campaign is None or e["campaign_id"] == campaign)
    ]
    if mode == "total":
        points = [(e["occurred_at"], e["channel"]) for e in scope if metric in metrics(e)]
    else:
        points = [v for k, v in firsts(scope).items() if k[3] == metric and k[4] == 0]
    for at, ch in points:
        if not (lower <= at < upper) or (channel and ch != channel):
            continue
        local = at.astimezone(tz)
        if interval == "hour":
            key = local.replace(minute=0, second=0, microsecond=0)
            key = datetime.fromtimestamp(key.timestamp(), tz)
        elif interval == "day":
            key = midnight(local.date(), tz)
        elif interval == "week":
            key = midnight(local.date() - timedelta(days=local.weekday()), tz)
        else:
            key = midnight(local.date().replace(day=1), tz)
        series[key] += 1
    return series


@pytest.fixture
async def dataset(app: FastAPI, client: httpx.AsyncClient, request: pytest.FixtureRequest) -> dict:
    """A tenant with two campaigns, leads, random events ingested out of order, and a simulation."""
    seed = request.param
    rng = random.Random(seed)
    me = await signed_in_user(app, client)
    campaigns = [
        await make_campaign(client, me.headers, name=f"C{i}", steps=STEPS) for i in range(2)
    ]
    leads = [
        await make_lead(client, me.headers, email=f"l{i}-{seed}@example.com") for i in range(8)
    ]
    events = random_events(rng, campaigns, leads, 250)
    shuffled = events[:]
    rng.shuffle(shuffled)
    # Redeliver some events: the duplicates must not count.
    shuffled += rng.sample(events, 30)
    for offset in range(0, len(shuffled), 70):
        response = await client.post(
            "/api/events/batch", json={"events": shuffled[offset : offset + 70]}, headers=me.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == 0, response.json()
    await client.post(
        f"/api/campaigns/{campaigns[0]['id']}/leads",
        json={"lead_ids": [x["id"] for x in leads]},
        headers=me.headers,
    )
    sim = await client.post(
        f"/api/campaigns/{campaigns[0]['id']}/simulate",
        json={
            "seed": seed,
            "start": START.isoformat(),
            "end": (START + timedelta(days=SPAN_DAYS)).isoformat(),
        },
        headers=me.headers,
    )
    assert sim.status_code == 200, sim.text
    return {"me": me, "campaigns": campaigns, "leads": leads, "seed": seed}


SEEDS = [1, 2, 3]


@pytest.mark.parametrize("dataset", SEEDS, indirect=True)
async def test_campaign_report_matches_raw_events(
    client: httpx.AsyncClient, admin_engine: AsyncEngine, dataset: dict
) -> None:
    me = dataset["me"]
    raw = await raw_events(admin_engine, me.tenant_id)
    assert sum(not e["simulated"] for e in raw) == 250
    for campaign in dataset["campaigns"]:
        for mode in ("unique", "total"):
            for sim in (False, True):
                got = (
                    await client.get(
                        f"/api/analytics/campaigns/{campaign['id']}?count={mode}&include_simulated={str(sim).lower()}",
                        headers=me.headers,
                    )
                ).json()
                scope = [
                    e
                    for e in raw
                    if e["campaign_id"] == campaign["id"] and (sim or not e["simulated"])
                ]
                lo, hi = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
                assert_figures(got["totals"], counts_in(scope, lo, hi, mode, sim))
                for ch in got["channels"]:
                    assert_figures(ch, counts_in(scope, lo, hi, mode, sim, channel=ch["channel"]))
                assert {c["channel"] for c in got["channels"]} == {e["channel"] for e in scope}
                step_units = firsts(scope, with_step=True)
                for step in got["steps"]:
                    expected: dict[str, int] = defaultdict(int)
                    if mode == "unique":
                        for key in step_units:
                            if key[4] == step["step"]:
                                expected[key[3]] += 1
                    else:
                        for e in scope:
                            if e["step"] == step["step"]:
                                for m in metrics(e):
                                    expected[m] += 1
                    assert_figures(step, dict(expected))


@pytest.mark.parametrize("dataset", SEEDS, indirect=True)
@pytest.mark.parametrize("tz_name", ["UTC", "America/New_York", "Europe/Paris", "Asia/Kolkata"])
async def test_timeseries_matches_raw_events(
    client: httpx.AsyncClient, admin_engine: AsyncEngine, dataset: dict, tz_name: str
) -> None:
    me = dataset["me"]
    raw = await raw_events(admin_engine, me.tenant_id)
    tz = ZoneInfo(tz_name)
    rng = random.Random(dataset["seed"])
    for interval in ("hour", "day", "week", "month"):
        metric = rng.choice(["contacted", "opened", "replied", "sent", "meeting_booked"])
        mode = rng.choice(["unique", "total"])
        campaign = rng.choice([None, dataset["campaigns"][0]["id"]])
        channel = rng.choice([None, "email", "linkedin"])
        first, last = (
            (date(2026, 3, 7), date(2026, 3, 9))
            if interval == "hour"
            else (date(2026, 3, 3), date(2026, 4, 2))
        )
        params = {
            "metric": metric,
            "interval": interval,
            "start": str(first),
            "end": str(last),
            "timezone": tz_name,
            "count": mode,
            "compare": "true",
        }
        if campaign:
            params["campaign_id"] = campaign
        if channel:
            params["channel"] = channel
        response = await client.get("/api/analytics/timeseries", params=params, headers=me.headers)
        assert response.status_code == 200, response.text
        got = response.json()
        starts = [datetime.fromisoformat(b["start"]) for b in got["buckets"]]
        assert starts == sorted(starts)
        assert len(set(starts)) == len(starts)

        opts = {
            "metric": metric,
            "mode": mode,
            "campaign": campaign,
            "channel": channel,
            "interval": interval,
        }
        expected = expected_series(raw, tz, first, last, **opts)
        got_map = {datetime.fromisoformat(b["start"]): b["value"] for b in got["buckets"]}
        assert {k: v for k, v in got_map.items() if v} == dict(expected), (interval, metric, mode)
        assert got["total"] == sum(expected.values())
        days = (last - first).days + 1
        previous = expected_series(
            raw, tz, first - timedelta(days=days), first - timedelta(days=1), **opts
        )
        assert got["previous_total"] == sum(previous.values())
        if interval == "day":
            # Every local day is one bucket, zero-filled, DST days included.
            assert [s.date() for s in starts] == [first + timedelta(days=i) for i in range(days)]
        if interval == "hour":
            hours = (
                midnight(last + timedelta(days=1), tz).timestamp() - midnight(first, tz).timestamp()
            ) / 3600
            assert len(starts) == hours


@pytest.mark.parametrize("dataset", SEEDS, indirect=True)
async def test_funnel_channels_dashboard_match_raw_events(
    client: httpx.AsyncClient, admin_engine: AsyncEngine, dataset: dict
) -> None:
    me = dataset["me"]
    raw = await raw_events(admin_engine, me.tenant_id)
    tz = ZoneInfo("Europe/Paris")
    first, last = date(2026, 3, 5), date(2026, 3, 25)
    lower, upper = midnight(first, tz), midnight(last + timedelta(days=1), tz)
    for steps, window, sim in (
        (["contacted", "opened", "replied"], 14, False),
        (["sent", "delivered", "clicked", "meeting_booked"], 5, True),
        (None, 14, False),
    ):
        params: list[tuple[str, str]] = [
            ("start", str(first)),
            ("end", str(last)),
            ("timezone", "Europe/Paris"),
            ("window_days", str(window)),
            ("include_simulated", str(sim).lower()),
        ]
        for s in steps or []:
            params.append(("steps", s))
        got = (await client.get("/api/analytics/funnel", params=params, headers=me.headers)).json()
        chosen = steps or [
            "contacted",
            "delivered",
            "opened",
            "clicked",
            "replied",
            "meeting_booked",
        ]
        units: dict[tuple, dict[str, datetime]] = defaultdict(dict)
        for (c, lead, s, m, step), (at, _) in firsts(
            [e for e in raw if sim or not e["simulated"]]
        ).items():
            if step == 0:
                units[(c, lead, s)][m] = at
        expected = [0] * len(chosen)
        for times in units.values():
            t0 = times.get(chosen[0])
            if t0 is None or not (lower <= t0 < upper):
                continue
            prev = t0
            for i, m in enumerate(chosen):
                t = times.get(m)
                if t is None or t < prev or t > t0 + timedelta(days=window):
                    break
                expected[i] += 1
                prev = t
        assert [s["leads"] for s in got["steps"]] == expected
        for i, s in enumerate(got["steps"]):
            assert s["conversion_from_first"] == (
                pytest.approx(expected[i] / expected[0]) if expected[0] else None
            )
            if i:
                assert s["conversion_from_previous"] == (
                    pytest.approx(expected[i] / expected[i - 1]) if expected[i - 1] else None
                )

    for mode in ("unique", "total"):
        got = (
            await client.get(
                f"/api/analytics/channels?start={first}&end={last}&timezone=Europe/Paris&count={mode}",
                headers=me.headers,
            )
        ).json()
        for ch in got["channels"]:
            assert_figures(ch, counts_in(raw, lower, upper, mode, False, channel=ch["channel"]))
        # One local day (no whole UTC day inside) and a campaign filter take the other paths.
        one = (
            await client.get(
                f"/api/analytics/channels?start=2026-03-10&end=2026-03-10&timezone=Asia/Kolkata"
                f"&count={mode}&campaign_id={dataset['campaigns'][1]['id']}",
                headers=me.headers,
            )
        ).json()
        kolkata = ZoneInfo("Asia/Kolkata")
        day_lo = midnight(date(2026, 3, 10), kolkata)
        day_hi = midnight(date(2026, 3, 11), kolkata)
        for ch in one["channels"]:
            expected = counts_in(
                raw, day_lo, day_hi, mode, False, dataset["campaigns"][1]["id"], ch["channel"]
            )
            assert_figures(ch, expected)
        single = (
            await client.get(
                f"/api/analytics/channels?start=2026-03-10&end=2026-03-10&timezone=Asia/Kolkata"
                f"&count={mode}",
                headers=me.headers,
            )
        ).json()
        for ch in single["channels"]:
            expected = counts_in(raw, day_lo, day_hi, mode, False, channel=ch["channel"])
            assert_figures(ch, expected)
        board = (
            await client.get(
                f"/api/analytics/dashboard?start={first}&end={last}&timezone=Europe/Paris&count={mode}",
                headers=me.headers,
            )
        ).json()
        now = counts_in(raw, lower, upper, mode, False)
        days = (last - first).days + 1
        before = counts_in(raw, midnight(first - timedelta(days=days), tz), lower, mode, False)
        kpis = {k["metric"]: k for k in board["kpis"]}
        for metric in ("contacted", "opened", "replied", "positive_replied", "meeting_booked"):
            assert kpis[metric]["value"] == now.get(metric, 0)
            assert kpis[metric]["previous"] == before.get(metric, 0)
        base, rates = expected_rates(now)
        assert kpis["delivered"]["value"] == base
        assert kpis["reply_rate"]["value"] == pytest.approx(rates["reply_rate"])
        replied_by_campaign = {
            c["id"]: counts_in(raw, lower, upper, mode, False, campaign=c["id"]).get("replied", 0)
            for c in dataset["campaigns"]
        }
        assert {c["campaign_id"]: c["replied"] for c in board["top_campaigns"]} == {
            k: v for k, v in replied_by_campaign.items() if v
        }
        latest = sorted(
            (e for e in raw if not e["simulated"]), key=lambda e: e["occurred_at"], reverse=True
        )[:20]
        assert [datetime.fromisoformat(a["occurred_at"]) for a in board["recent_activity"]] == [
            e["occurred_at"] for e in latest
        ]


async def test_bad_input_and_cross_tenant(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client)
    other = await signed_in_user(app, client)
    campaign = await make_campaign(client, other.headers)
    cid = campaign["id"]
    for url in (
        f"/api/analytics/campaigns/{cid}",
        f"/api/analytics/timeseries?campaign_id={cid}",
        f"/api/analytics/funnel?campaign_id={cid}",
        f"/api/analytics/channels?campaign_id={cid}",
    ):
        assert (await client.get(url, headers=me.headers)).status_code == 404, url
        assert (await client.get(url, headers=other.headers)).status_code == 200, url
    for url in (
        "/api/analytics/timeseries?timezone=Mars/Base",
        "/api/analytics/timeseries?start=2026-02-01&end=2026-01-01",
        "/api/analytics/timeseries?interval=minute",
        "/api/analytics/timeseries?metric=vibes",
        "/api/analytics/timeseries?interval=hour&start=2026-01-01&end=2026-06-01",
        "/api/analytics/timeseries?start=2020-01-01&end=2026-01-01",
        "/api/analytics/timeseries?start=yesterday",
        "/api/analytics/timeseries?start=0001-01-01&end=0001-01-02&timezone=Asia/Tokyo",
        "/api/analytics/funnel?start=9999-12-30&end=9999-12-31",
        "/api/analytics/timeseries?channel=fax",
        "/api/analytics/funnel?steps=opened",
        "/api/analytics/funnel?steps=opened&steps=opened",
        "/api/analytics/funnel?steps=opened,opened",
        "/api/analytics/funnel?steps=opened,vibes",
        "/api/analytics/funnel?window_days=0",
        "/api/analytics/channels?count=some",
        "/api/analytics/dashboard?timezone=" + "x" * 80,
        "/api/analytics/campaigns/not-a-uuid",
    ):
        response = await client.get(url, headers=me.headers)
        assert response.status_code == 422, url
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/analytics/dashboard")).status_code == 401
    # Funnel steps may be repeated or comma-separated, to the same funnel.
    repeated = await client.get(
        "/api/analytics/funnel?steps=contacted&steps=opened&steps=replied", headers=other.headers
    )
    listed = await client.get(
        "/api/analytics/funnel?steps=contacted,opened&steps=replied", headers=other.headers
    )
    assert repeated.status_code == 200, repeated.text
    assert listed.json() == repeated.json()
    assert [step["metric"] for step in listed.json()["steps"]] == ["contacted", "opened", "replied"]
    unknown = await client.get("/api/analytics/funnel?steps=opened,vibes", headers=me.headers)
    assert unknown.json()["code"] == "invalid_funnel"
    assert unknown.json()["unknown"] == ["vibes"]


@pytest.mark.parametrize("dataset", [4], indirect=True)
async def test_incremental_state_equals_a_rebuild(
    app: FastAPI, admin_engine: AsyncEngine, dataset: dict
) -> None:
    tenant_id = dataset["me"].tenant_id
    queries = {
        "lead_metric_state": "SELECT campaign_id, lead_id, metric, simulated, channel, "
        "first_at, last_at, total, steps FROM lead_metric_state WHERE tenant_id = :t",
        "analytics_step_rollups": "SELECT campaign_id, step, metric, simulated, total "
        "FROM analytics_step_rollups WHERE tenant_id = :t AND total <> 0",
        "analytics_campaign_rollups": "SELECT campaign_id, metric, bucket, channel, simulated, "
        "total, uniques FROM analytics_campaign_rollups "
        "WHERE tenant_id = :t AND (total <> 0 OR uniques <> 0)",
        "analytics_tenant_daily": "SELECT metric, day, channel, simulated, total, uniques "
        "FROM analytics_tenant_daily WHERE tenant_id = :t AND (total <> 0 OR uniques <> 0)",
        "analytics_tenant_rollups": "SELECT metric, bucket, channel, simulated, total, uniques "
        "FROM analytics_tenant_rollups WHERE tenant_id = :t AND (total <> 0 OR uniques <> 0)",
    }

    async def snapshot() -> dict[str, set]:
        async with admin_engine.connect() as conn:
            return {
                name: set(await conn.execute(text(sql), {"t": tenant_id}))
                for name, sql in queries.items()
            }

    incremental = await snapshot()
    assert all(incremental.values())
    async with app.state.database.transaction(tenant_id=tenant_id) as session:
        await rebuild_tenant(session, tenant_id)
    assert await snapshot() == incremental


async def test_concurrent_batches_stay_exact(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    me = await signed_in_user(app, client)
    campaign = await make_campaign(client, me.headers, steps=STEPS)
    leads = [await make_lead(client, me.headers, email=f"k{i}@example.com") for i in range(3)]
    rng = random.Random(99)
    events = random_events(rng, [campaign], leads, 240)
    batches = [events[i::6] for i in range(6)]
    responses = await asyncio.gather(
        *(client.post("/api/events/batch", json={"events": b}, headers=me.headers) for b in batches)
    )
    assert all(
        r.status_code == 200 and r.json()["accepted"] == len(b)
        for r, b in zip(responses, batches, strict=True)
    )
    raw = await raw_events(admin_engine, me.tenant_id)
    got = (
        await client.get(f"/api/analytics/campaigns/{campaign['id']}", headers=me.headers)
    ).json()
    lo, hi = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    assert_figures(got["totals"], counts_in(raw, lo, hi, "unique", False))


async def test_other_tenants_events_stay_invisible(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client)
    other = await signed_in_user(app, client)
    campaign = await make_campaign(client, other.headers, steps=STEPS)
    lead = await make_lead(client, other.headers, email="hidden@example.com")
    today = datetime.now(UTC).replace(microsecond=0)
    body = {
        "type": "email.sent",
        "campaign_id": campaign["id"],
        "lead_id": lead["id"],
        "step": 1,
        "occurred_at": today.isoformat(),
    }
    assert (await client.post("/api/events", json=body, headers=other.headers)).status_code == 201
    mine = (await client.get("/api/analytics/dashboard", headers=me.headers)).json()
    assert mine["recent_activity"] == []
    assert mine["top_campaigns"] == []
    assert {k["metric"]: k["value"] for k in mine["kpis"]}["contacted"] == 0
    theirs = (await client.get("/api/analytics/dashboard", headers=other.headers)).json()
    assert {k["metric"]: k["value"] for k in theirs["kpis"]}["contacted"] == 1
    series = (await client.get("/api/analytics/timeseries", headers=me.headers)).json()
    assert series["total"] == 0
    # Row-level security is the second wall: the app's role sees nothing of the other tenant.
    async with app.state.database.transaction(tenant_id=me.tenant_id) as session:
        for table in (
            "leads",
            "campaigns",
            "events",
            "lead_metric_state",
            "analytics_campaign_rollups",
            "analytics_tenant_rollups",
            "analytics_tenant_daily",
            "analytics_step_rollups",
        ):
            seen = await session.execute(text(f"SELECT count(*) FROM {table}"))
            assert seen.scalar_one() == 0, table


async def test_deleting_a_tenant_clears_its_analytics(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    me = await signed_in_user(app, client)
    other = await signed_in_user(app, client)
    for user in (me, other):
        campaign = await make_campaign(client, user.headers, steps=STEPS)
        lead = await make_lead(client, user.headers, email="gone@example.com")
        body = {
            "type": "email.sent",
            "campaign_id": campaign["id"],
            "lead_id": lead["id"],
            "step": 1,
            "occurred_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        }
        response = await client.post("/api/events", json=body, headers=user.headers)
        assert response.status_code == 201
    tables = (
        "lead_metric_state",
        "analytics_campaign_rollups",
        "analytics_tenant_rollups",
        "analytics_tenant_daily",
        "analytics_step_rollups",
    )

    async def rows(tenant_id: Any) -> dict[str, int]:
        async with admin_engine.connect() as conn:
            return {
                table: (
                    await conn.execute(
                        text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"),
                        {"t": tenant_id},
                    )
                ).scalar_one()
                for table in tables
            }

    assert all((await rows(me.tenant_id)).values())
    async with admin_engine.begin() as conn:
        await conn.execute(text("DELETE FROM tenants WHERE id = :t"), {"t": me.tenant_id})
    assert not any((await rows(me.tenant_id)).values())
    assert all((await rows(other.tenant_id)).values())


async def test_analytics_rows_of_another_tenant_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    me = await signed_in_user(app, client)
    other = await signed_in_user(app, client)
    with pytest.raises(Exception, match="row-level security"):
        async with app.state.database.transaction(tenant_id=me.tenant_id) as session:
            await session.execute(
                text(
                    "INSERT INTO analytics_tenant_daily (tenant_id, metric, day, channel, "
                    "simulated, total, uniques) VALUES (:t, 'sent', '2026-01-01', 'email', "
                    "false, 1, 1)"
                ),
                {"t": other.tenant_id},
            )
