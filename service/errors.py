"""One JSON error shape for every 4xx/5xx: ``{"error": {"code", "message", "field"?}}``.

No traceback, path or environment variable ever reaches a client: unexpected
exceptions are logged with the request id and answered with a generic 500.
A store that cannot be reached (Redis down, restarting, paused) is not a bug:
every endpoint that needs it answers 503 with ``Retry-After`` (clients retry)
and logs one line, no traceback.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import AuthenticationError as RedisAuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError as RedisResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from verirl.batch import field_path
from verirl.errors import Overloaded, ServiceUnavailable, VerirlError

log = logging.getLogger("verirl.api")

#: Seconds a client should wait before retrying a 503 (a Redis restart takes a few).
RETRY_AFTER_S = 2


def error_response(status: int, code: str, message: str, field: str | None = None, headers=None) -> JSONResponse:
    body: dict = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "overloaded",
}


#: What a store that cannot be reached raises (redis-py's sync and asyncio clients alike).
STORE_ERRORS: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)


_REFUSALS = ("NOAUTH", "WRONGPASS", "DENIED", "NOPERM")


def _refusal(exc: Exception) -> bool:
    return any(word in str(exc) for word in _REFUSALS)


def mapped_response(request: Request, exc: Exception) -> JSONResponse | None:
    """The answer to an exception the app maps (a VerirlError, a store outage), logged the
    one way; None for anything else (an unexpected error: the 500 handler's business).
    The exception handlers below and the trainer fast path (routes/compat.py), which
    bypasses FastAPI's exception middleware, both answer through this one function."""
    if isinstance(exc, VerirlError):
        headers = None
        if isinstance(exc, Overloaded):
            headers = {"Retry-After": str(exc.retry_after_s)}
        elif isinstance(exc, ServiceUnavailable):
            headers = {"Retry-After": str(RETRY_AFTER_S)}
            log.warning("%s %s: 503 %s", request.method, request.url.path, exc.message)
        elif exc.status_code == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return error_response(exc.status_code, exc.code, exc.message, exc.field, headers)
    if isinstance(exc, RedisAuthenticationError) or (isinstance(exc, RedisResponseError) and _refusal(exc)):
        # Redis refuses us (password changed, ACL, protected mode): a configuration error, said as such
        log.error("%s %s: 503 Redis refused this service (%s); check REDIS_URL", request.method, request.url.path, exc)
        return error_response(503, "unavailable", "the queue's Redis refuses this service (authentication or "
                              "protected mode): the operator must fix REDIS_URL", headers={"Retry-After": str(RETRY_AFTER_S)})
    if isinstance(exc, STORE_ERRORS):
        log.warning("%s %s: 503 store unavailable (%s: %s)", request.method, request.url.path, type(exc).__name__, exc)
        return error_response(503, "unavailable", f"store unavailable ({type(exc).__name__}); retry shortly",
                              headers={"Retry-After": str(RETRY_AFTER_S)})
    return None


def install(app: FastAPI) -> None:
    async def _mapped(request: Request, exc: Exception) -> JSONResponse:
        resp = mapped_response(request, exc)
        if resp is None:  # not reached: registered only for the classes it maps
            raise exc
        return resp

    app.add_exception_handler(VerirlError, _mapped)
    # Registered by class, so Starlette answers store errors inside the middleware stack: the
    # response carries X-Request-Id and nothing is re-raised to uvicorn as a traceback.
    for cls in STORE_ERRORS:
        app.add_exception_handler(cls, _mapped)
    app.add_exception_handler(RedisAuthenticationError, _mapped)

    @app.exception_handler(RedisResponseError)
    async def _redis_response(request: Request, exc: RedisResponseError) -> JSONResponse:
        resp = mapped_response(request, exc)
        return resp if resp is not None else await _unexpected(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request", "type": ""}
        loc = list(err.get("loc") or ())
        if loc and loc[0] == "body":
            loc = loc[1:]
        kind = err.get("type", "")
        if kind == "json_invalid":
            return error_response(400, "invalid_json", f"body is not valid JSON: {err.get('msg')}", "body")
        return error_response(422, "invalid_input", str(err.get("msg")), field_path(loc) or "body")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        field = "body" if exc.status_code == 400 else None
        message = str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in message:
            code, message = "invalid_body", "body could not be decoded (send UTF-8 JSON)"
        return error_response(exc.status_code, code, message, field, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = getattr(request.state, "request_id", "-")
        log.exception("unhandled error (request %s)", rid)
        return error_response(500, "internal_error", f"internal error (request id {rid})")
