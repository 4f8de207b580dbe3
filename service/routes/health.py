from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from verirl import __version__

from ..deps import DispatcherDep, SettingsDep, StoreDep, require_api_key

router = APIRouter(tags=["health"])

READY_TIMEOUT_S = 0.45  # each of the two probes: /readyz answers within 1 s, Redis up or not


@router.get("/healthz", operation_id="healthz")
async def healthz() -> dict:
    """The process is up (no dependency is checked)."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz", dependencies=[Depends(require_api_key)])
async def readyz(dispatcher: DispatcherDep, store: StoreDep) -> JSONResponse:
    """The queue and store answer and at least one worker is alive (answers within a second).
    Right after start-up it answers 503 with ``"warming": true`` while the verifier processes
    start; grading requests sent meanwhile are accepted and answered once they are up."""
    try:
        ready, why = await asyncio.wait_for(dispatcher.ready(), READY_TIMEOUT_S)
        if ready:  # bounded in distributed mode (Redis); the embedded store is a local file
            ping = store.ping()
            ready = bool(await (asyncio.wait_for(ping, READY_TIMEOUT_S) if dispatcher.mode == "distributed" else ping))
    except Exception as exc:
        ready, why = False, f"store unreachable: {type(exc).__name__}"
    body: dict = {"ready": ready, "detail": why}
    if getattr(dispatcher, "warming", False):
        body["warming"] = True  # start-up: requests are accepted and wait for the verifier processes
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/v1/info", operation_id="info", dependencies=[Depends(require_api_key)])
async def info(dispatcher: DispatcherDep, settings: SettingsDep) -> dict:
    """Version, dispatch mode, workers, verifiers and sandbox isolation.

    Isolation comes from the self-check the verifier processes (or each worker)
    ran at start-up; it is awaited, never run here, so the event loop never waits
    for a sandbox slot.
    """
    from verirl.code.grader import languages

    info = await dispatcher.info()  # Redis down: 503 + Retry-After; refusing us: 503 naming REDIS_URL (errors.py)
    isolation = await dispatcher.isolation()
    return {
        "version": __version__,
        "mode": dispatcher.mode,
        **info,
        "verifiers": {"math": {"layers": ["string", "choice", "text", "numeric", "sympy"]}, "code": languages()},
        "isolation": isolation,
        "limits": {
            "max_items": settings.max_items,
            "max_body_mb": settings.max_body_mb,
            "item_timeout_s": settings.item_timeout_s,
            "request_timeout_s": settings.request_timeout_s,
        },
    }
