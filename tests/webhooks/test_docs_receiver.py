"""The receiver shown in docs/webhooks.md verifies real deliveries and rejects forgeries."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from fastapi import FastAPI

from artisan.webhooks.engine import DeliveryEngine
from tests.factories import Account
from tests.webhooks.conftest import create_endpoint
from tests.webhooks.helpers import campaign, emit, run_until

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _receiver_source() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    [source] = [b for b in blocks if "WebhookVerificationError" in b]
    return source


async def test_documented_receiver_verifies_deliveries(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    engine: DeliveryEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = web.AppRunner(web.Application())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    await runner.cleanup()
    endpoint = await create_endpoint(wh_client, admin, f"http://127.0.0.1:{port}/webhooks/artisan")
    monkeypatch.setenv("ARTISAN_WEBHOOK_SECRET", endpoint["secret"])
    namespace: dict[str, Any] = {"__name__": "docs_receiver"}
    exec(compile(_receiver_source(), str(DOC), "exec"), namespace)  # noqa: S102 - our own doc
    served = web.AppRunner(namespace["app"])
    await served.setup()
    await web.TCPSite(served, "127.0.0.1", port).start()
    try:
        await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign("Docs"))
        await run_until(engine)
        [event] = namespace["received_events"]
        assert event["type"] == "campaign.launched"
        assert event["data"]["name"] == "Docs"
        async with httpx.AsyncClient() as client:
            forged = await client.post(
                f"http://127.0.0.1:{port}/webhooks/artisan",
                content=json.dumps(event),
                headers={
                    "webhook-id": "msg_forged",
                    "webhook-timestamp": "1700000000",
                    "webhook-signature": "v1,AAAA",
                },
            )
        assert forged.status_code == 400
    finally:
        await served.cleanup()
