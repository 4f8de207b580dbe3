"""The hot paths: ``POST /v1/score``, ``/get_reward`` and ``/slime/reward`` served before
FastAPI's middleware, router and response model.

For a one-item trainer request, FastAPI's stack (telemetry and error middleware,
our request-id and body-limit middleware, routing, dependency solving, response
validation) cost several times the grading; for an 800-item ``/v1/score``,
validating the response into models and ``jsonable_encoder`` cost more than the
grading of all 800 items (bench/README.md). Here a request is read, checked
(API key, size, content type, query), parsed once from bytes, graded by the
same functions as the routes, and answered with one orjson encoding.

Same answers as the routes: anything that is not a well-formed, authorised
request (a 4xx of any kind) is replayed through the FastAPI app, which gives
the usual answer in the one error shape; an exception while grading is
answered by :func:`service.errors.mapped_response` (or the generic 500).
:class:`HotPathApp` is the FastAPI application with this in front.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from pydantic import ValidationError
from starlette.requests import Request

from verirl.logs import new_request_id, request_id_var
from verirl.schemas import ScoreRequest

from .errors import error_response, mapped_response
from .middleware import clean_request_id, payload_too_large
from .observe import RECORDER

log = logging.getLogger("verirl.api")

_JSON = b"application/json"


class _Route:
    """What the latency metric reads from ``scope["route"]``."""

    def __init__(self, path: str) -> None:
        self.path = path


HOT_PATHS = {p: _Route(p) for p in ("/v1/score", "/get_reward", "/slime/reward")}


def score_response_json(out: dict[str, Any]) -> bytes:
    """``out`` as the ScoreResponse model would serialise it (every ItemResult field, a reward
    as a float), without building the models."""
    results = []
    for r in out["results"]:
        reward = r.get("reward")
        results.append({
            "id": r.get("id"),
            "reward": None if reward is None else float(reward),
            "verdict": r["verdict"],
            "extracted": r.get("extracted"),
            "details": r.get("details") or {},
            "difficulty": r.get("difficulty"),
        })
    return _dumps({"results": results, "stats": out["stats"], "groups": out.get("groups") or {}})


def _dumps(body: Any) -> bytes:
    return orjson.dumps(body, default=jsonable_encoder)


def _authorised(app: FastAPI, headers: dict[bytes, bytes], query: bytes) -> bool:
    """``deps.require_api_key`` without building a Request: True when it would let the request in."""
    keys: list[bytes] = app.state.api_keys
    if not keys:
        return True
    header = headers.get(b"authorization", b"")
    if not header:
        if b"api_key" not in query:
            return False
        token = dict(parse_qsl(query.decode("latin-1"))).get("api_key", "").strip().encode()
    else:
        scheme, _, tok = header.partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        token = tok.strip()
    if not token:
        return False
    ok = False
    for key in keys:  # every key: no early exit that leaks which
        ok |= hmac.compare_digest(token, key)
    return ok


class HotPathApp(FastAPI):
    """The FastAPI application, with the hot paths answered before its middleware stack."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in HOT_PATHS:
            await super().__call__(scope, receive, send)
            return
        await self._hot(scope, receive, send)

    async def _hot(self, scope: dict, receive: Any, send: Any) -> None:
        headers = dict(scope["headers"])
        max_bytes: int = self.state.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            await super().__call__(scope, receive, send)  # the body-limit middleware answers
            return
        rid = clean_request_id(headers.get(b"x-request-id")) or new_request_id()
        chunks = []
        size = 0
        more = True
        while more:
            msg = await receive()
            if msg["type"] != "http.request":  # the client went away
                return
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                await _send(send, 413, payload_too_large(max_bytes), [(b"x-request-id", rid.encode())])
                return
            chunks.append(chunk)
            more = msg.get("more_body", False)
        body = b"".join(chunks)
        ctype = headers.get(b"content-type")
        answer = None
        if (ctype is None or ctype.startswith(_JSON)) and _authorised(self, headers, scope["query_string"]):
            scope.setdefault("state", {})["request_id"] = rid
            token = request_id_var.set(rid)
            t0 = time.perf_counter()
            try:
                answer = await self._answer(scope, body)
                if answer is not None:
                    status, payload, extra = answer
                    await _send(send, status, payload, [(b"x-request-id", rid.encode()), *extra])
                    RECORDER.record_http("POST", scope["path"], status, time.perf_counter() - t0)
            finally:
                request_id_var.reset(token)
        if answer is None:  # not well-formed or not authorised: the app's routes give the 4xx
            sent = False

            async def replay() -> dict:
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            await super().__call__(scope, replay, send)

    async def _answer(self, scope: dict, body: bytes) -> tuple[int, bytes, list] | None:
        """(status, body, extra headers), or None to replay the request through the app."""
        path = scope["path"]
        try:
            if path == "/v1/score":
                if scope["query_string"]:
                    return None
                try:
                    req = ScoreRequest.model_validate_json(body)
                except ValidationError:
                    return None
                from .jobs import score_batch, score_endpoint

                out = await score_batch(self.state.dispatcher, self.state.settings, req, self.state.registry,
                                        endpoint=score_endpoint(dict(scope["headers"]).get(b"x-verirl-integration")))
                return 200, score_response_json(out), []
            from .routes import compat

            return await compat.trainer_answer(self, path, scope["query_string"], body)
        except Exception as exc:
            request = Request(scope)
            mapped = mapped_response(request, exc)
            if mapped is None:  # what the app's 500 handler does
                rid = scope["state"]["request_id"]
                log.exception("unhandled error (request %s)", rid)
                mapped = error_response(500, "internal_error", f"internal error (request id {rid})")
            return mapped.status_code, mapped.body, [
                (k, v) for k, v in mapped.raw_headers if k not in (b"content-length", b"content-type")
            ]


async def _send(send: Any, status: int, payload: bytes, extra: list) -> None:
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", _JSON), (b"content-length", str(len(payload)).encode()), *extra],
    })
    await send({"type": "http.response.body", "body": payload})
