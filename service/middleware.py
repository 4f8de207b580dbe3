"""ASGI middleware: request ids and the body-size limit (checked while streaming)."""

from __future__ import annotations

import json
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Answer 413 in the common error shape once a body passes ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > self.max_bytes:
                        await self._reject(send)
                        return
                except ValueError:
                    pass
        seen = 0
        started = exceeded = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise _TooLarge
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            if exceeded:  # the app caught _TooLarge (FastAPI turns any body error into a 400): the answer is 413
                raise _TooLarge
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = payload_too_large(self.max_bytes)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def payload_too_large(max_bytes: int) -> bytes:
    """The 413 body, in the one error shape."""
    return json.dumps(
        {"error": {"code": "payload_too_large", "message": f"request body larger than {max_bytes} bytes", "field": "body"}}
    ).encode()


_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


def clean_request_id(value: bytes | None) -> str | None:
    """The caller's X-Request-Id, reduced to safe characters (at most 64), or None."""
    if value is None:
        return None
    return _SAFE_ID.sub("", value.decode("latin-1"))[:64] or None


class RequestIdMiddleware:
    """A request id (the caller's X-Request-Id, cleaned, or a new one) in the response, the
    logs and the RQ chunks; and the request's latency in the metrics, per route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from verirl.logs import new_request_id, request_id_var

        from .observe import RECORDER

        rid = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                rid = clean_request_id(value)
        rid = rid or new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        status = 500
        t0 = time.perf_counter()

        async def with_id(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
                msg.setdefault("headers", [])
                msg["headers"] = list(msg["headers"]) + [(b"x-request-id", rid.encode())]
            await send(msg)

        try:
            await self.app(scope, receive, with_id)
        finally:
            route = scope.get("route")
            RECORDER.record_http(scope.get("method", "-"), getattr(route, "path", "unmatched"), status, time.perf_counter() - t0)
            request_id_var.reset(token)
