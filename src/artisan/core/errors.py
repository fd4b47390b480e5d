"""One exception type for every expected failure, rendered as RFC 9457 problem+json."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_CONTENT_TYPE = "application/problem+json"
log = structlog.get_logger(__name__)


class AppError(Exception):
    """An expected failure with an HTTP status, a stable machine `code` and a human message."""

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.extra = extra


class NotFound(AppError):
    status, code = 404, "not_found"


class Unauthorized(AppError):
    status, code = 401, "unauthorized"

    def __init__(self, detail: str = "Invalid or missing credentials", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(AppError):
    status, code = 403, "forbidden"


class Conflict(AppError):
    status, code = 409, "conflict"


class PaymentRequired(AppError):
    status, code = 402, "payment_required"


class ValidationFailed(AppError):
    status, code = 422, "validation_error"


class TooManyRequests(AppError):
    status, code = 429, "rate_limited"


class PayloadTooLarge(AppError):
    status, code = 413, "payload_too_large"


class ProblemDetail(BaseModel):
    """RFC 9457 problem details, as every error response of this API is shaped."""

    type: str = Field(default="about:blank", description="A URI reference naming the problem")
    title: str = Field(description="Short summary of the problem type")
    status: int
    detail: str | None = None
    code: str = Field(description="Stable machine-readable error code")
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Field errors of a validation problem: [{loc, msg}]"
    )

    model_config = {"extra": "allow"}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entries documenting problem+json errors in the OpenAPI schema."""
    return {
        status: {
            "model": ProblemDetail,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_CONTENT_TYPE: {}},
        }
        for status in statuses
    }


_PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetail"}
# What FastAPI documents for its own request validation; this API answers a problem instead.
_FRAMEWORK_VALIDATION = ("HTTPValidationError", "ValidationError")


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with every error response declared as it is sent: a `ProblemDetail`
    under `application/problem+json`, FastAPI's validation error model included."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ProblemDetail", ProblemDetail.model_json_schema())
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status[:1] in ("4", "5"):
                    response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": dict(_PROBLEM_REF)}}
    for name in _FRAMEWORK_VALIDATION:
        if f'"#/components/schemas/{name}"' not in json.dumps(schema):
            components.pop(name, None)
    return schema


def problem_response(
    request_id: str | None,
    status: int,
    code: str,
    detail: str | None,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Render one problem+json response."""
    body: dict[str, Any] = {
        "type": f"https://docs.artisan.dev/problems/{code.replace('_', '-')}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_CONTENT_TYPE)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


# character_not_in_repertoire (a NUL byte), untranslatable_character (\u0000 inside JSON).
_UNSTORABLE_TEXT_SQLSTATES = frozenset({"22021", "22P05"})
# deadlock_detected, serialization_failure: the transaction lost to a concurrent one and was
# rolled back whole; running it again is expected to succeed.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
# Marks a response the retry middleware may replace by running the request again.
TRANSIENT_HEADER = "x-artisan-transient"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, the driver error it wraps and everything that caused them."""
    found: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return found


def _is_unstorable_text(exc: BaseException) -> bool:
    """Whether a database error comes from text PostgreSQL cannot store (bad input, not a bug)."""
    return any(
        isinstance(cause, UnicodeError)
        or getattr(cause, "sqlstate", None) in _UNSTORABLE_TEXT_SQLSTATES
        for cause in _causes(exc)
    )


def is_transient(exc: BaseException) -> bool:
    """Whether a database error is a lost deadlock or serialization check (worth a retry)."""
    return any(getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES for cause in _causes(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Make every error, the framework's included, answer problem+json."""

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(
            _request_id(request), exc.status, exc.code, exc.detail, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No such resource"
        return problem_response(
            _request_id(request), exc.status_code, code, detail, headers=dict(exc.headers or {})
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type")}
            for err in exc.errors()
        ]
        return problem_response(
            _request_id(request),
            422,
            "validation_error",
            "The request is not valid; see errors",
            errors=errors,
        )

    @app.exception_handler(StatementError)
    async def _database_error(request: Request, exc: StatementError) -> JSONResponse:
        if is_transient(exc):
            log.warning("transaction_conflict", error=type(exc).__name__)
            return problem_response(
                _request_id(request),
                503,
                "transaction_conflict",
                "The request collided with a concurrent one; retry it",
                headers={"Retry-After": "1", TRANSIENT_HEADER: "1"},
            )
        if _is_unstorable_text(exc):
            return problem_response(
                _request_id(request),
                422,
                "invalid_text",
                "Text fields must be valid Unicode without NUL characters",
            )
        log.exception("unhandled_exception", exc_type=type(exc).__name__)
        return problem_response(
            _request_id(request), 500, "internal_error", "An unexpected error occurred"
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_exception", exc_type=type(exc).__name__)
        return problem_response(
            _request_id(request), 500, "internal_error", "An unexpected error occurred"
        )
