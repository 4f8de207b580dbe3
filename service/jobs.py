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

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from verirl.batch import batch_stats, group_stats, prepare_items, request_base
from verirl.errors import InvalidInput, VerirlError
from verirl.schemas import ScoreRequest
from verirl.settings import Settings

from .dispatch import Dispatcher
from .observe import RECORDER
from .store import Store

log = logging.getLogger("verirl.jobs")



#: The integrations that name themselves (X-Verirl-Integration) in the label-error metric.
INTEGRATIONS = frozenset({"verl", "trl"})


def score_endpoint(integration: str | bytes | None) -> str:
    """The ``endpoint`` label of a /v1/score request: the integration that sent it, else ``score``."""
    if isinstance(integration, bytes):
        integration = integration.decode("latin-1")
    return integration if integration in INTEGRATIONS else "score"


def check_size(req: ScoreRequest, settings: Settings) -> None:
    if len(req.items) > settings.max_items:
        raise InvalidInput(f"at most {settings.max_items} items per request", field="items")


async def _resolve_problems(registry: Any, raw_items: list[Any]) -> tuple[list[Any], set[int]]:
    """Fill the ground truth of items that reference a registered ``problem_id``.

    Returns the items (copies where filled) and the indices whose id is unknown.
    """
    want = {
        i: it["problem_id"]
        for i, it in enumerate(raw_items)
        if isinstance(it, dict) and isinstance(it.get("problem_id"), str) and it.get("answer") is None and it.get("tests") is None
    }
    if not want or registry is None:
        return raw_items, set(want) if registry is None else set()
    docs = await registry.resolve(sorted(set(want.values())))
    items = list(raw_items)
    unknown: set[int] = set()
    for i, pid in want.items():
        doc = docs.get(pid)
        if doc is None:
            unknown.add(i)
            continue
        it = dict(items[i])
        for k in ("answer", "tests", "language"):
            if doc.get(k) is not None and it.get(k) is None:
                it[k] = doc[k]
        if "task" not in it and doc.get("task"):
            it["task"] = doc["task"]
        items[i] = it
    return items, unknown


async def score_batch(
    dispatcher: Dispatcher,
    settings: Settings,
    req: ScoreRequest,
    registry: Any = None,
    count_token: str | None = None,
    log_each: bool = True,
    endpoint: str = "score",
) -> dict[str, Any]:
    check_size(req, settings)
    return await score_items(dispatcher, settings, req.items, request_base(req.options, settings.reward_spec),
                             registry, count_token, log_each, endpoint)


async def score_items(
    dispatcher: Dispatcher,
    settings: Settings,
    raw_items: list[Any],
    base: dict[str, Any],
    registry: Any = None,
    count_token: str | None = None,
    log_each: bool = True,
    endpoint: str = "score",
) -> dict[str, Any]:
    """Grade raw items against the request options ``base`` (:func:`verirl.batch.request_base`):
    the body of ``score_batch``, for callers that hold ``base`` already (the trainer endpoints).
    ``endpoint`` labels the request's label errors in the metrics."""
    t0 = time.perf_counter()
    given = raw_items
    raw_items, unknown = await _resolve_problems(registry, raw_items)
    prepared, errors = prepare_items(
        raw_items,
        None,
        max_completion_chars=settings.max_completion_chars,
        max_answer_chars=settings.max_answer_chars,
        base=base,
    )
    for i in unknown:
        prepared[i] = None
        errors[i] = {
            "id": given[i].get("id") if isinstance(given[i].get("id"), str) else None,
            "reward": None,
            "verdict": "error",
            "extracted": None,
            "details": {"error": {"code": "unknown_problem", "field": f"items[{i}].problem_id",
                                  "message": f"no registered problem {given[i]['problem_id']!r}"}},
        }
    # A bad item is its own `error` verdict, alone or not: a one-item trainer client (OpenRLHF,
    # slime) gets the same answer as a batch would give that item, never a whole-request 422.
    todo = [(i, p) for i, p in enumerate(prepared) if p is not None]
    deadline_s = base.get("deadline_s") or settings.request_timeout_s
    graded = await dispatcher.score([p for _, p in todo], time.monotonic() + deadline_s)
    results: list[dict] = [e for e in errors]  # type: ignore[misc]
    for (i, _), res in zip(todo, graded, strict=True):
        results[i] = res
    RECORDER.record_results(prepared, results, endpoint)
    took = time.perf_counter() - t0
    # The trainer endpoints get thousands of one-item requests a step: a line each would cost more than the grading.
    log.log(logging.INFO if log_each or took >= 1.0 else logging.DEBUG, "scored %d items in %.3f s", len(results), took)
    if registry is not None:
        updates = [(p["problem_id"], p.get("policy"), results[i]["verdict"]) for i, p in todo if p.get("problem_id")]
        if updates:
            try:
                stats = await registry.record(updates, count_token)
            except Exception as exc:  # statistics are best-effort: the grades stand without them
                log.warning("difficulty statistics not recorded for %d items: %s: %s", len(updates), type(exc).__name__, exc)
                stats = {}
            for i, p in todo:
                if p.get("problem_id"):
                    results[i]["difficulty"] = stats.get(p["problem_id"])
    return {
        "results": results,
        "stats": {**batch_stats(results, time.perf_counter() - t0), "mode": dispatcher.mode},
        "groups": group_stats(prepared, results),
    }


class JobRunner:
    """Runs async jobs; each runs in exactly one API process at a time.

    A job runs where its lease is: ``submit`` stores a new job with its lease, the sweeper
    takes leases nobody holds (the API running the job stopped). Inside one process a
    job id never has two tasks (``_start`` checks synchronously), so a job submitted
    while a sweep waits on a slow Redis is not "taken over" by its own API.
    """

    def __init__(self, dispatcher: Dispatcher, store: Store, settings: Settings, registry: Any = None) -> None:
        self.registry = registry
        self.dispatcher = dispatcher
        self.store = store
        self.settings = settings
        self.owner = uuid.uuid4().hex
        self._running: dict[str, asyncio.Task] = {}
        self.lease_s = settings.job_lease_s
        self._sweeper: asyncio.Task | None = None

    def start_sweeper(self) -> None:
        """Every lease/3 seconds, take over open jobs whose lease nobody holds (an API replica
        that died): nothing accepted is lost, even without a restart."""

        async def sweep() -> None:
            while True:
                await asyncio.sleep(self.lease_s / 3)
                try:
                    await self.resume("nobody renewed its lease: the API that ran it stopped")
                except Exception as exc:
                    log.warning("job sweep failed: %s: %s", type(exc).__name__, exc)

        self._sweeper = asyncio.create_task(sweep())

    async def submit(self, req: ScoreRequest) -> str:
        check_size(req, self.settings)
        job_id = uuid.uuid4().hex
        await self.store.create_job(job_id, req.model_dump(mode="json"), len(req.items), self.owner, self.lease_s)
        self._start(job_id)
        return job_id

    def _start(self, job_id: str) -> bool:
        if job_id in self._running:  # synchronous check-and-add: one task per job in this process
            return False
        task = asyncio.create_task(self._run(job_id))
        self._running[job_id] = task
        task.add_done_callback(lambda _t: self._running.pop(job_id, None))
        return True

    async def resume(self, why: str = "resumed after a restart") -> int:
        """Start every open job whose lease nobody holds; returns how many."""
        n = 0
        for job_id in await self.store.open_jobs():
            if job_id in self._running:
                continue
            if not await self.store.claim_job(job_id, self.owner, self.lease_s):
                continue  # another replica (or this one) holds its lease: it is running
            if self._start(job_id):
                n += 1
                log.warning("async job %s: taken over by this API (%s)", job_id, why)
            else:  # started here while the claim waited on Redis; the lease is ours either way
                log.info("async job %s: already running in this API; not started twice", job_id)
        return n

    async def _keep_lease(self, job_id: str, task: asyncio.Task) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                held = await self.store.renew_job(job_id, self.owner, self.lease_s)
            except Exception as exc:
                log.warning("async job %s: cannot renew its lease (%s); retrying", job_id, type(exc).__name__)
                continue
            if not held:
                log.error("async job %s: another API took its lease (this one stalled past %d s); "
                          "stopping here so that it runs once", job_id, self.lease_s)
                task.cancel()
                return

    async def _run(self, job_id: str) -> None:
        me = asyncio.current_task()
        assert me is not None
        lease = asyncio.create_task(self._keep_lease(job_id, me))
        try:
            raw = await self.store.job_request(job_id)
            if raw is None:
                return
            await self.store.set_job_status(job_id, "running")
            req = ScoreRequest.model_validate(raw)
            try:
                result = await score_batch(self.dispatcher, self.settings, req, self.registry, count_token=f"job:{job_id}",
                                           endpoint="jobs")
            except InvalidInput as exc:
                await self.store.finish_job(job_id, "failed", {"code": exc.code, "message": exc.message, "field": exc.field})
                return
            await self.store.finish_job(job_id, "done", result)
        except asyncio.CancelledError:
            raise
        except (VerirlError, RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("async job %s interrupted (%s: %s); it stays open and runs again when its lease lapses",
                        job_id, type(exc).__name__, exc)
        except Exception:
            log.exception("async job %s failed; it stays open and runs again when its lease lapses", job_id)
        finally:
            lease.cancel()

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        tasks = list(self._running.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
