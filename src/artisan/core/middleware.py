"""Pure ASGI middleware: request context, timing, security headers, metrics, HTTPS, body limit,
and the replay of a request whose transaction lost a deadlock."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import structlog
from fastapi import HTTPException
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from artisan.core.context import RequestMeta, set_request_meta
from artisan.core.errors import TRANSIENT_HEADER, problem_response
from artisan.core.metrics import HTTP_DURATION, HTTP_REQUESTS
from artisan.core.network import is_trusted_proxy, resolve_client_ip

log = structlog.get_logger("artisan.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_DOCS_PATHS = ("/docs", "/redoc")
# Swagger UI and ReDoc load their scripts from a CDN and run inline bootstraps.
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "font-src 'self' https://fonts.gstatic.com; worker-src 'self' blob:; frame-ancestors 'none'"
)
_API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def sanitise_request_id(raw: str | None) -> str:
    """Keep a caller's request id when it is short and plain, else mint a new one."""
    if raw and _REQUEST_ID.match(raw):
        return raw
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Request id, log context, X-Response-Time, security headers and HTTP metrics."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False, trusted_proxies: list[str]) -> None:
        self.app = app
        self.hsts = hsts
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = sanitise_request_id(headers.get("x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        set_request_meta(
            RequestMeta(
                request_id=request_id,
                ip_address=resolve_client_ip(
                    scope["client"][0] if scope.get("client") else None,
                    headers.get("x-forwarded-for"),
                    self.trusted_proxies,
                ),
                user_agent=(headers.get("user-agent") or "")[:512] or None,
            )
        )
        started = time.perf_counter()
        status_holder: dict[str, int] = {"status": 500}
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                out = MutableHeaders(scope=message)
                out["X-Request-ID"] = request_id
                out["X-Response-Time"] = f"{(time.perf_counter() - started) * 1000:.2f}ms"
                out["X-Content-Type-Options"] = "nosniff"
                out["X-Frame-Options"] = "DENY"
                out["Referrer-Policy"] = "strict-origin-when-cross-origin"
                out["Cross-Origin-Opener-Policy"] = "same-origin"
                out["Content-Security-Policy"] = (
                    _DOCS_CSP if path.startswith(_DOCS_PATHS) else _API_CSP
                )
                if self.hsts:
                    out["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            HTTP_REQUESTS.labels(scope["method"], template, str(status_holder["status"])).inc()
            HTTP_DURATION.labels(scope["method"], template).observe(elapsed)
            log.info(
                "request",
                method=scope["method"],
                route=template,
                status=status_holder["status"],
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()


class HTTPSRedirectMiddleware:
    """Redirect plain HTTP to HTTPS, trusting X-Forwarded-Proto only from known proxies."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: list[str]) -> None:
        self.app = app
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in ("/health", "/health/ready"):
            await self.app(scope, receive, send)
            return
        scheme = scope.get("scheme", "http")
        peer = scope["client"][0] if scope.get("client") else None
        if is_trusted_proxy(peer, self.trusted_proxies):
            for key, value in scope["headers"]:
                if key == b"x-forwarded-proto":
                    scheme = value.decode("latin-1").split(",")[0].strip().lower()
        if scheme == "https":
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "localhost")
        query = scope.get("query_string", b"").decode("latin-1")
        location = f"https://{host}{scope['path']}" + (f"?{query}" if query else "")
        await send(
            {
                "type": "http.response.start",
                "status": 308,
                "headers": [(b"location", location.encode())],
            }
        )
        await send({"type": "http.response.body", "body": b""})


class BodySizeLimitMiddleware:
    """Refuse bodies over the limit while they stream in, before the app reads them whole."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"Request body exceeds the limit of {self.max_bytes} bytes"
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    response = problem_response(
                        scope.get("state", {}).get("request_id"), 413, "payload_too_large", detail
                    )
                    await response(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(status_code=413, detail=detail)
            return message

        await self.app(scope, limited_receive, send)


class RetryTransientMiddleware:
    """Runs a request again, once, when its transaction lost a deadlock or a serialization check.

    The database rolled that transaction back whole and after-commit work was dropped with it,
    so running the request again is safe. The error handler marks such a failure with
    `TRANSIENT_HEADER` (core.errors); the first marked response is swallowed and the request
    replayed with the body it already sent, and a second one reaches the client as a 503 problem
    with Retry-After, never a 500. Streamed request bodies are recorded as the app reads them, so
    nothing is read ahead of the body limit.
    """

    def __init__(self, app: ASGIApp, *, retries: int = 1) -> None:
        self.app = app
        self.retries = retries

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[Message] = []
        complete = False

        async def recording_receive() -> Message:
            nonlocal complete
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message)
                complete = not message.get("more_body", False)
            return message

        attempt = 0
        current_receive: Receive = recording_receive

        def may_retry() -> bool:
            # Decided when the failure is answered: by then the app has read what it needed.
            return attempt < self.retries and (complete or not chunks)

        while await self._attempt(scope, current_receive, send, may_retry=may_retry):
            attempt += 1
            log.warning("transaction_retried", path=scope.get("path"), attempt=attempt)
            current_receive = _replay(chunks, receive)

    async def _attempt(
        self, scope: Scope, receive: Receive, send: Send, *, may_retry: Callable[[], bool]
    ) -> bool:
        """Run the app once; whether it asked to run again (its marked response is dropped)."""
        retry = False

        async def marked_send(message: Message) -> None:
            nonlocal retry
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=message["headers"])
                if TRANSIENT_HEADER in headers:
                    if may_retry():
                        retry = True
                        return
                    del headers[TRANSIENT_HEADER]
            elif retry:
                return
            await send(message)

        await self.app(scope, receive, marked_send)
        return retry


def _replay(chunks: list[Message], receive: Receive) -> Receive:
    """A receive that hands over a recorded body again, then the connection's own messages."""
    pending = list(chunks) or [{"type": "http.request", "body": b"", "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
