"""Webhook fixtures: a real receiver on loopback, apps that allow it, the delivery engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from fastapi import FastAPI

from artisan.webhooks.engine import DeliveryEngine
from tests.factories import Account, signed_in_user

LOOPBACK = "127.0.0.0/8,::1/128"


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """A loopback HTTP server recording every request; routes answer as a test scripts them."""

    base_url: str = ""
    requests: list[Received] = field(default_factory=list)
    # path -> list of (status, headers, delay seconds) answers, consumed in order; last one sticks
    script: dict[str, list[tuple[int, dict[str, str], float]]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        """The receiver's URL for `path`."""
        return self.base_url + path

    def answer(self, path: str, *answers: tuple[int, dict[str, str], float]) -> None:
        """Script the answers of `path`."""
        self.script[path] = list(answers)

    def at(self, path: str) -> list[Received]:
        """Requests received on `path`."""
        return [r for r in self.requests if r.path == path]

    async def wait_for(self, count: int, path: str | None = None, within: float = 20) -> None:
        """Wait until `count` requests (on `path`) arrived."""
        deadline = time.monotonic() + within
        while True:
            got = len(self.at(path)) if path else len(self.requests)
            if got >= count:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"receiver got {got} requests, expected {count}")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Received(request.path, dict(request.headers), body, time.time()))
        self.arrived.set()
        answers = self.script.get(request.path) or [(200, {}, 0.0)]
        status, headers, delay = answers.pop(0) if len(answers) > 1 else answers[0]
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status, headers=headers, text="ok" if status < 300 else "no")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A real aiohttp server on 127.0.0.1."""
    recv = Receiver()
    server = web.Application()
    server.router.add_route("*", "/{tail:.*}", recv.handle)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    recv.base_url = f"http://127.0.0.1:{port}"
    yield recv
    await runner.cleanup()


WEBHOOK_SETTINGS: dict[str, Any] = {
    "webhook_allow_private_networks": LOOPBACK,
    "webhook_runner": "off",
    "webhook_retry_schedule": "0,0.2,0.4",
    "webhook_timeout_seconds": 2,
}


@pytest.fixture
def wh_app(app_factory: Callable[..., FastAPI]) -> FastAPI:
    """An app whose webhooks may reach loopback; nothing sends until a test drives the engine."""
    return app_factory(**WEBHOOK_SETTINGS)


@pytest.fixture
async def wh_client(wh_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `wh_app`."""
    from tests.conftest import client_for

    async with client_for(wh_app) as http:
        yield http


@pytest.fixture
async def admin(wh_app: FastAPI, wh_client: httpx.AsyncClient) -> Account:
    """A signed-in admin of a new tenant."""
    return await signed_in_user(wh_app, wh_client)


@pytest.fixture
async def engine(wh_app: FastAPI) -> AsyncIterator[DeliveryEngine]:
    """The delivery engine on the app's database, as a worker would run it."""
    eng = DeliveryEngine(wh_app.state.settings, wh_app.state.database)
    yield eng
    await eng.close()


async def create_endpoint(
    client: httpx.AsyncClient, account: Account, url: str, **fields: Any
) -> dict[str, Any]:
    """Create an endpoint through the API."""
    response = await client.post(
        f"/api/admin/{account.tenant_id}/webhooks",
        json={"url": url, **fields},
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
