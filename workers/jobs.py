"""RQ job functions. RQ stores their dotted path: these names are an API.

``score_chunk(payload)`` takes plain JSON (see :mod:`service.rq_dispatch`),
grades every item in the worker's verifier pool (each item bounded by a kill,
never by an alarm), pushes ``{"chunk", "attempt", "results"}`` to the
request's result list, and beats a heartbeat key while it works so that the API
can tell a dead worker from a slow one.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from verirl.schemas import FAILURE_VERDICTS

log = logging.getLogger("verirl.worker")

HEARTBEAT_TTL_S = 3
HEARTBEAT_EVERY_S = 1.0

_pool = None
_pool_lock = threading.Lock()


def get_pool(size: int | None = None):
    """The worker's verifier pool, created once per worker process (``size`` defaults to VERIRL_WORKERS)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            from verirl.pool import VerifierPool
            from verirl.settings import get_settings

            _pool = VerifierPool(size or get_settings().workers)
        return _pool


def _connection():
    from rq import get_current_job

    job = get_current_job()
    if job is None:  # called directly (tests of the contract, scripts)
        import redis

        from verirl.settings import get_settings

        return redis.Redis.from_url(get_settings().redis_url), "direct"
    return job.connection, job.id


# The API counts admitted items until a worker starts their chunk (see service.rq_dispatch).
_STARTED = """
local left = redis.call('DECRBY', KEYS[1], tonumber(ARGV[1]))
if left < 0 then redis.call('SET', KEYS[1], 0) end
"""


def score_chunk(payload: dict) -> dict:
    conn, job_id = _connection()
    hb_key = f"verirl:hb:{job_id}"
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            try:
                conn.set(hb_key, "1", ex=HEARTBEAT_TTL_S)
            except Exception:
                pass
            stop.wait(HEARTBEAT_EVERY_S)

    with conn.pipeline(transaction=False) as p:  # first beat, and the chunk leaves the queued count
        p.set(hb_key, "1", ex=HEARTBEAT_TTL_S)
        if payload.get("depth_key"):
            p.eval(_STARTED, 1, payload["depth_key"], len(payload["items"]))
        p.execute()
    t = threading.Thread(target=beat, name="verirl-heartbeat", daemon=True)
    t.start()
    try:
        items = payload["items"]
        budgets = payload.get("budgets") or [10.0] * len(items)
        t0 = time.perf_counter()
        results = get_pool().map(items, budgets)
        rids = payload.get("http_request_ids") or []
        for it, res in zip(items, results, strict=True):
            if res.get("verdict") in FAILURE_VERDICTS:
                log.warning("item %s: %s (%s)", it.get("id"), res["verdict"], str((res.get("details") or {}).get("error"))[:200],
                            extra={"request_id": it.get("_rid"), "job_id": job_id, "chunk": payload["chunk"]})
        # one line per request whose items were in this chunk (small requests share chunks)
        for rid in rids or [None]:
            n = sum(1 for it in items if it.get("_rid") == rid) if rid else len(items)
            log.info("scored chunk: %d of its %d items in %.3f s", n, len(items), time.perf_counter() - t0,
                     extra={"request_id": rid, "job_id": job_id, "chunk": payload["chunk"]})
        msg = {"chunk": payload["chunk"], "attempt": payload.get("attempt", 1), "results": results}
        key = payload["results_key"]
        with conn.pipeline() as p:
            p.rpush(key, json.dumps(msg))
            p.expire(key, 3600)
            p.execute()
    finally:
        stop.set()
        t.join(timeout=2)
        try:
            conn.delete(hb_key)
        except Exception:
            pass
    return {"chunk": payload["chunk"], "items": len(results)}
