"""Grading a batch (shared by POST /v1/score and async jobs) and the async-job runner.

An async job is written to the store before its id is returned, so nothing
accepted is lost: if the API restarts, :meth:`JobRunner.resume` picks up every
job still open and runs it again (grading is idempotent).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from verirl.batch import batch_stats, group_stats, prepare_items
from verirl.errors import InvalidInput
from verirl.schemas import ScoreRequest
from verirl.settings import Settings

from .dispatch import Dispatcher
from .store import Store

log = logging.getLogger("verirl.jobs")

LEASE_S = 30


def check_size(req: ScoreRequest, settings: Settings) -> None:
    if len(req.items) > settings.max_items:
        raise InvalidInput(f"at most {settings.max_items} items per request", field="items")


async def score_batch(dispatcher: Dispatcher, settings: Settings, req: ScoreRequest) -> dict[str, Any]:
    t0 = time.perf_counter()
    check_size(req, settings)
    prepared, errors = prepare_items(
        req.items,
        req.options,
        max_completion_chars=settings.max_completion_chars,
        max_answer_chars=settings.max_answer_chars,
        default_reward=settings.reward_spec,
    )
    if all(e is not None for e in errors):
        first = errors[0]["details"]["error"]  # type: ignore[index]
        raise InvalidInput(first["message"], field=first["field"])
    todo = [(i, p) for i, p in enumerate(prepared) if p is not None]
    deadline_s = (req.options.deadline_s if req.options and req.options.deadline_s else None) or settings.request_timeout_s
    graded = await dispatcher.score([p for _, p in todo], time.monotonic() + deadline_s)
    results: list[dict] = [e for e in errors]  # type: ignore[misc]
    for (i, _), res in zip(todo, graded, strict=True):
        results[i] = res
    return {
        "results": results,
        "stats": {**batch_stats(results, time.perf_counter() - t0), "mode": dispatcher.mode},
        "groups": group_stats(prepared, results),
    }


class JobRunner:
    def __init__(self, dispatcher: Dispatcher, store: Store, settings: Settings) -> None:
        self.dispatcher = dispatcher
        self.store = store
        self.settings = settings
        self.owner = uuid.uuid4().hex
        self._tasks: set[asyncio.Task] = set()

    async def submit(self, req: ScoreRequest) -> str:
        check_size(req, self.settings)
        job_id = uuid.uuid4().hex
        await self.store.create_job(job_id, req.model_dump(mode="json"), len(req.items))
        self._start(job_id)
        return job_id

    def _start(self, job_id: str) -> None:
        task = asyncio.create_task(self._run(job_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def resume(self) -> int:
        n = 0
        for job_id in await self.store.open_jobs():
            if await self.store.claim_job(job_id, self.owner, LEASE_S):
                self._start(job_id)
                n += 1
        return n

    async def _keep_lease(self, job_id: str) -> None:
        while True:
            await asyncio.sleep(LEASE_S / 3)
            await self.store.claim_job(job_id, self.owner, LEASE_S)

    async def _run(self, job_id: str) -> None:
        if not await self.store.claim_job(job_id, self.owner, LEASE_S):
            return
        lease = asyncio.create_task(self._keep_lease(job_id))
        try:
            raw = await self.store.job_request(job_id)
            if raw is None:
                return
            await self.store.set_job_status(job_id, "running")
            req = ScoreRequest.model_validate(raw)
            try:
                result = await score_batch(self.dispatcher, self.settings, req)
            except InvalidInput as exc:
                await self.store.finish_job(job_id, "failed", {"code": exc.code, "message": exc.message, "field": exc.field})
                return
            await self.store.finish_job(job_id, "done", result)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("async job %s failed; it stays open and is resumed on restart", job_id)
        finally:
            lease.cancel()

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
