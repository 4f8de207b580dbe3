"""FastAPI dependencies: settings, dispatcher, store, and the API-key check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from verirl.errors import Unauthorized
from verirl.settings import Settings

from .dispatch import Dispatcher
from .jobs import JobRunner
from .store import Store


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_dispatcher(request: Request) -> Dispatcher:
    return request.app.state.dispatcher


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_runner(request: Request) -> JobRunner:
    return request.app.state.runner


def require_api_key(request: Request) -> None:
    """With VERIRL_API_KEYS set, a matching bearer token (constant-time compare) or 401."""
    keys: list[bytes] = request.app.state.api_keys
    if not keys:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header and "api_key" in request.query_params:
        # For callers that cannot send headers: OpenRLHF's and slime's remote reward
        # clients post to a bare URL, and a browser opens the status page.
        scheme, token = "bearer", request.query_params["api_key"]
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "missing bearer token: send `Authorization: Bearer KEY` (the verirl client and integrations "
            "send VERIRL_API_KEY; the server's keys are VERIRL_API_KEYS)"
        )
    tok = token.strip().encode()
    ok = False
    for key in keys:  # compare against every key: no early exit that leaks which
        ok |= hmac.compare_digest(tok, key)
    if not ok:
        raise Unauthorized("invalid bearer token")


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
StoreDep = Annotated[Store, Depends(get_store)]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
