"""Send prepared items to verifier processes and collect one result per item.

Two dispatchers, one contract (``await score(items, deadline)`` returns a list
of result dicts as long as ``items``, in order, by the deadline):

* :class:`EmbeddedDispatcher` owns a :class:`verirl.pool.VerifierPool` in the
  API process (no Redis).
* :class:`RQDispatcher` splits items into chunks, enqueues one RQ job per chunk
  (``workers.jobs.score_chunk``), and waits for the chunk results that workers
  push to a per-request Redis list. A watchdog re-enqueues a chunk whose worker
  stopped beating (SIGKILL, machine lost) once, then marks its items ``error``;
  items still missing at the deadline are ``timeout``. Nothing hangs and no
  item goes missing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
import uuid
from concurrent.futures import Future
from typing import Any, Protocol

from verirl.errors import Overloaded, ServiceUnavailable
from verirl.scoring import failure_result, item_budget

from .observe import request_id_var

log = logging.getLogger("verirl.dispatch")

RESULTS_TTL_S = 3600
COALESCE_S = 0.005  # how long a small request waits for others to share its RQ job
HEARTBEAT_GRACE_S = 3.0
MAX_ATTEMPTS = 2
DEADLINE_MESSAGE = "request deadline reached before this item was graded"
ISOLATION_CHECK_S = 60.0  # budget of the sandbox self-check in a verifier process
ISOLATION_WAIT_S = 10.0  # how long /v1/info waits for that check before saying it is pending


class Dispatcher(Protocol):
    mode: str

    async def score(self, items: list[dict], deadline: float) -> list[dict]: ...
    async def info(self) -> dict[str, Any]: ...
    async def isolation(self) -> dict[str, Any]: ...
    async def ready(self) -> tuple[bool, str]: ...
    async def queue_depth(self) -> int: ...
    async def close(self) -> None: ...


class EmbeddedDispatcher:
    mode = "embedded"

    def __init__(self, workers: int, item_timeout_s: float, max_queue_depth: int) -> None:
        from verirl.pool import VerifierPool

        self.pool = VerifierPool(workers)
        self.item_timeout_s = item_timeout_s
        self.max_queue_depth = max_queue_depth
        self._isolation = self._check_isolation()

    async def score(self, items: list[dict], deadline: float) -> list[dict]:
        if self.pool.queued + len(items) > self.max_queue_depth:
            raise Overloaded(f"{self.pool.queued} items are waiting; retry later")
        if not items:
            return []
        # One wake-up of the event loop per request, not one per item.
        loop = asyncio.get_running_loop()
        all_done = asyncio.Event()
        left = [len(items)]
        lock = threading.Lock()

        def _one_done(_f: object) -> None:  # runs in the pool's scheduler thread
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                loop.call_soon_threadsafe(all_done.set)

        cfuts = [self.pool.submit(it, item_budget(it, self.item_timeout_s)) for it in items]
        for f in cfuts:
            f.add_done_callback(_one_done)
        try:
            await asyncio.wait_for(all_done.wait(), timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            pass
        out: list[dict] = []
        for it, cf in zip(items, cfuts, strict=True):
            if cf.done() and not cf.cancelled():
                out.append(cf.result())
            else:
                cf.cancel()  # a queued item is dropped; a running one ends at its own budget
                out.append(failure_result(it, "timeout", DEADLINE_MESSAGE))
        return out

    async def info(self) -> dict[str, Any]:
        return {"workers": [{"name": f"embedded-{socket.gethostname()}", **self.pool.stats()}]}

    def _check_isolation(self) -> Future:
        """The sandbox self-check, run by a verifier process (it waits for a free sandbox slot,
        so never in the event loop); queued at start-up, ahead of any request."""
        return self.pool.submit({"task": "isolation_report"}, ISOLATION_CHECK_S)

    async def isolation(self) -> dict[str, Any]:
        """The cached self-check result; awaited without blocking the loop, never re-run once known."""
        fut = self._isolation
        try:  # shield: a /v1/info that gives up must not cancel the queued check
            res = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(fut)), ISOLATION_WAIT_S)
        except TimeoutError:
            return {"available": None, "pending": "the sandbox self-check has not finished (it waits for a verifier and a free sandbox slot)"}
        iso = (res.get("details") or {}).get("isolation")
        if iso is None:  # the check itself was killed or crashed: run it again for the next caller
            if self._isolation is fut:
                self._isolation = self._check_isolation()
            return {"available": None, "error": f"sandbox self-check {res.get('verdict')}: {(res.get('details') or {}).get('error')}"}
        return iso

    async def ready(self) -> tuple[bool, str]:
        st = self.pool.stats()
        return (st["alive"] > 0, f"{st['alive']}/{st['size']} verifier processes alive")

    async def queue_depth(self) -> int:
        return self.pool.queued

    async def close(self) -> None:
        await asyncio.to_thread(self.pool.close)


def redis_options(asyncio: bool = False) -> dict[str, Any]:
    """Clients that ride out a Redis restart: reconnect and retry with backoff, health-check idle connections."""
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError, TimeoutError

    if asyncio:
        from redis.asyncio.retry import Retry
    else:
        from redis.retry import Retry
    return {
        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), 6),
        "retry_on_error": [ConnectionError, TimeoutError],
        "health_check_interval": 15,
        "socket_connect_timeout": 5,
    }


def _chunks(n: int, size: int) -> list[range]:
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


class RQDispatcher:
    mode = "distributed"

    def __init__(
        self,
        redis_url: str,
        queue_name: str,
        chunk_size: int,
        item_timeout_s: float,
        max_queue_depth: int,
    ) -> None:
        import redis
        import redis.asyncio as aredis
        from rq import Queue
        from rq.serializers import JSONSerializer

        self.sync = redis.Redis.from_url(redis_url, **redis_options())
        self.r = aredis.Redis.from_url(redis_url, **redis_options(asyncio=True))
        self.queue = Queue(queue_name, connection=self.sync, serializer=JSONSerializer)
        self.queue_name = queue_name
        self.chunk_size = chunk_size
        self.item_timeout_s = item_timeout_s
        self.max_queue_depth = max_queue_depth
        self._waiting: list[tuple[list[dict], float, asyncio.Future]] = []
        self._waiting_items = 0
        self._flush_handle: asyncio.TimerHandle | None = None
        self._batches: set[asyncio.Task] = set()

    # -- enqueue ---------------------------------------------------------------

    def _enqueue(self, specs: list[tuple[str, dict, int]]) -> None:
        from rq import Queue

        datas = [
            Queue.prepare_data(
                "workers.jobs.score_chunk",
                args=(payload,),
                job_id=job_id,
                timeout=timeout,
                result_ttl=120,
                failure_ttl=600,
                ttl=RESULTS_TTL_S,
                description=f"verirl chunk {payload['chunk']} ({len(payload['items'])} items)",
            )
            for job_id, payload, timeout in specs
        ]
        with self.sync.pipeline() as pipe:
            self.queue.enqueue_many(datas, pipeline=pipe)
            pipe.execute()

    def _payload(self, rid: str, idx: int, attempt: int, items: list[dict]) -> tuple[str, dict, int]:
        budgets = [item_budget(it, self.item_timeout_s) for it in items]
        payload = {
            "request_id": rid,
            "http_request_ids": sorted({it["_rid"] for it in items if it.get("_rid")}),
            "results_key": f"verirl:res:{rid}",
            "chunk": idx,
            "attempt": attempt,
            "items": items,
            "budgets": budgets,
        }
        return f"verirl-{rid}-{idx}-{attempt}", payload, int(sum(budgets)) + 60

    # -- score -----------------------------------------------------------------

    async def score(self, items: list[dict], deadline: float) -> list[dict]:
        """Small requests arriving together share RQ jobs (a trainer sends many 8-16 rollout
        requests at once; one job each would cost more than the grading). Each caller still
        returns by its own deadline."""
        rid = request_id_var.get()
        items = [dict(it, _rid=rid) if rid else it for it in items]
        if len(items) >= self.chunk_size:
            return await self._score(items, deadline)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()
        self._waiting.append((items, deadline, fut))
        self._waiting_items += len(items)
        if self._waiting_items >= 4 * self.chunk_size:
            self._flush()
        elif self._flush_handle is None:
            self._flush_handle = loop.call_later(COALESCE_S, self._flush)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                return fut.result()
            return [failure_result(it, "timeout", DEADLINE_MESSAGE) for it in items]

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        batch, self._waiting, self._waiting_items = self._waiting, [], 0
        if not batch:
            return
        task = asyncio.get_running_loop().create_task(self._run_batch(batch))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _run_batch(self, batch: list[tuple[list[dict], float, asyncio.Future]]) -> None:
        combined = [it for items, _, _ in batch for it in items]
        try:
            results = await self._score(combined, max(d for _, d, _ in batch))
        except Exception as exc:
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        pos = 0
        for items, _, fut in batch:
            if not fut.done():
                fut.set_result(results[pos : pos + len(items)])
            pos += len(items)

    async def _score(self, items: list[dict], deadline: float) -> list[dict]:
        depth = await self.queue_depth()
        if depth + len(items) > self.max_queue_depth:
            raise Overloaded(f"about {depth} items are waiting; retry later")
        rid = uuid.uuid4().hex
        chunks = _chunks(len(items), self.chunk_size)
        specs = [self._payload(rid, i, 1, [items[j] for j in rng]) for i, rng in enumerate(chunks)]
        try:
            await asyncio.to_thread(self._enqueue, specs)
        except Exception as exc:  # redis down: a clean 503, never a hang
            raise ServiceUnavailable(f"queue unavailable: {type(exc).__name__}") from None
        results: list[dict | None] = [None] * len(items)
        pending: dict[int, dict[str, Any]] = {
            i: {"job_id": specs[i][0], "attempt": 1, "dead_since": None, "done_since": None} for i in range(len(chunks))
        }
        key = f"verirl:res:{rid}"
        last_check = time.monotonic()
        try:
            while pending:
                now = time.monotonic()
                if now >= deadline:
                    break
                try:
                    got = await self.r.blpop([key], timeout=max(0.05, min(1.0, deadline - now)))
                except Exception as exc:
                    log.warning("redis error while waiting for results: %s", exc)
                    await asyncio.sleep(0.5)
                    got = None
                while got is not None:
                    msg = json.loads(got[1])
                    idx = msg["chunk"]
                    if idx in pending:
                        del pending[idx]
                        for j, res in zip(chunks[idx], msg["results"], strict=True):
                            results[j] = res
                    got = await self._lpop(key) if pending else None
                if pending and time.monotonic() - last_check >= 1.0:
                    last_check = time.monotonic()
                    try:
                        await self._watch(rid, chunks, items, pending, results)
                    except Exception as exc:  # Redis restarting: keep waiting until the deadline
                        log.warning("redis error while watching chunks: %s", exc)
        finally:
            try:
                await self.r.delete(key)
            except Exception:
                pass
        for i in list(pending):
            for j in chunks[i]:
                if results[j] is None:
                    results[j] = failure_result(items[j], "timeout", DEADLINE_MESSAGE)
        if pending:
            await asyncio.to_thread(self._cancel, [p["job_id"] for p in pending.values()])
        return [r for r in results if r is not None]

    async def _lpop(self, key: str) -> tuple[bytes, bytes] | None:
        raw = await self.r.lpop(key)
        return (key.encode(), raw) if raw is not None else None

    async def _watch(
        self,
        rid: str,
        chunks: list[range],
        items: list[dict],
        pending: dict[int, dict[str, Any]],
        results: list[dict | None],
    ) -> None:
        idxs = list(pending)
        async with self.r.pipeline(transaction=False) as p:
            for i in idxs:
                jid = pending[i]["job_id"]
                p.hget(f"rq:job:{jid}", "status")
                p.exists(f"verirl:hb:{jid}")
            raw = await p.execute()
        now = time.monotonic()
        retry: list[tuple[int, str]] = []
        for n, i in enumerate(idxs):
            status = raw[2 * n].decode() if raw[2 * n] else None
            beating = bool(raw[2 * n + 1])
            st = pending[i]
            lost_reason = None
            if status in ("failed", "stopped", "canceled"):
                lost_reason = f"job {status}"
            elif status == "started" and not beating:
                st["dead_since"] = st["dead_since"] or now
                if now - st["dead_since"] >= HEARTBEAT_GRACE_S:
                    lost_reason = "worker stopped beating"
            elif status in ("finished", None):
                st["done_since"] = st["done_since"] or now
                if now - st["done_since"] >= HEARTBEAT_GRACE_S:
                    lost_reason = "job vanished" if status is None else "job finished without results"
            else:
                st["dead_since"] = None
            if lost_reason:
                retry.append((i, lost_reason))
        respecs = []
        for i, reason in retry:
            st = pending[i]
            if st["attempt"] < MAX_ATTEMPTS:
                log.warning("chunk %s of %s lost (%s); re-enqueueing", i, rid, reason)
                spec = self._payload(rid, i, st["attempt"] + 1, [items[j] for j in chunks[i]])
                respecs.append(spec)
                pending[i] = {"job_id": spec[0], "attempt": st["attempt"] + 1, "dead_since": None, "done_since": None}
            else:
                log.error("chunk %s of %s lost twice (%s); marking its items error", i, rid, reason)
                for j in chunks[i]:
                    results[j] = failure_result(items[j], "error", f"worker lost while grading ({reason})")
                del pending[i]
        if respecs:
            await asyncio.to_thread(self._enqueue, respecs)

    def _cancel(self, job_ids: list[str]) -> None:
        from rq.job import Job

        for jid in job_ids:
            try:
                Job.fetch(jid, connection=self.sync).cancel()
            except Exception:
                pass

    # -- status ----------------------------------------------------------------

    async def workers(self) -> list[dict[str, Any]]:
        out = []
        async for key in self.r.scan_iter(match="verirl:worker:*", count=500):
            raw = await self.r.get(key)
            if raw:
                out.append(json.loads(raw))
        return sorted(out, key=lambda w: w.get("name", ""))

    async def info(self) -> dict[str, Any]:
        return {"workers": await self.workers(), "queue": self.queue_name}

    async def isolation(self) -> dict[str, Any]:
        """What each live worker's sandbox provides (each checks once at its start-up and announces it)."""
        return {"workers": {w.get("name"): w.get("isolation", {"available": None}) for w in await self.workers()}}

    async def ready(self) -> tuple[bool, str]:
        try:
            await self.r.ping()
        except Exception as exc:
            return False, f"redis unreachable: {type(exc).__name__}"
        n = len(await self.workers())
        return (n > 0, f"{n} workers alive")

    async def queue_depth(self) -> int:
        try:
            jobs = await self.r.llen(f"rq:queue:{self.queue_name}")
        except Exception as exc:
            raise ServiceUnavailable(f"queue unavailable: {type(exc).__name__}") from None
        return int(jobs) * self.chunk_size

    async def close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        for t in list(self._batches):
            t.cancel()
        await self.r.aclose()
        self.sync.close()


def make_dispatcher(settings: Any) -> Dispatcher:
    if settings.redis_url:
        return RQDispatcher(
            settings.redis_url, settings.queue, settings.chunk_size, settings.item_timeout_s, settings.max_queue_depth
        )
    return EmbeddedDispatcher(settings.workers, settings.item_timeout_s, settings.max_queue_depth)

