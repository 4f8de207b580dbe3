"""The distributed dispatcher: items to RQ jobs on Redis, results back, nothing lost.

:class:`RQDispatcher` splits items into chunks, enqueues one RQ job per chunk
(``workers.jobs.score_chunk``), and waits for the chunk results that workers
push to a per-request Redis list. A watchdog re-enqueues a chunk whose worker
stopped beating (SIGKILL, machine lost) once, then marks its items ``error``;
a chunk a worker took off the queue but never started (it froze or died
right after the take) is re-sent at once, without counting as an attempt;
items still missing at the deadline are ``timeout``. Nothing hangs and no
item goes missing.

Admission is atomic across API replicas: one Lua script, run in the same
MULTI/EXEC as RQ's job writes, checks the queued-items counter against
``max_queue_depth`` and pushes the job ids (or drops the jobs and answers 429).
Workers decrement the counter when they start a chunk.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import uuid
from typing import Any

from verirl.errors import Overloaded, ServiceUnavailable
from verirl.logs import request_id_var
from verirl.scoring import failure_result, item_budget
from verirl.settings import probe_options, redis_options

from .dispatch import DEADLINE_MESSAGE

log = logging.getLogger("verirl.dispatch")

RESULTS_TTL_S = 3600
COALESCE_S = 0.005  # how long a small request waits for others to share its RQ job
HEARTBEAT_GRACE_S = 3.0
#: A live worker moves a job out of RQ's intermediate list in the same dequeue step
#: (milliseconds); one still there after this long was taken by a worker that froze or died.
TAKEN_GRACE_S = 2.0
MAX_ATTEMPTS = 2  # runs that started and were lost (a poison item gets two chances)
MAX_SENDS = 6  # sends in all, counting re-sends of chunks that were taken but never started


WORKERS_KEY = "verirl:workers"  # names of announcing workers (see workers.main)


def depth_key(queue_name: str) -> str:
    """Items admitted to the queue and not yet started by a worker (workers decrement it)."""
    return f"verirl:queued-items:{queue_name}"


# KEYS: queue, intermediate list, depth counter, then the job hashes; ARGV: limit (0: no
# limit, for re-sends of admitted chunks), items, then the job ids. Returns -1 when admitted,
# else the depth that refused it (the jobs were written in the same transaction: drop them).
_ADMIT = """
local cur = tonumber(redis.call('GET', KEYS[3]) or '0')
if cur < 0 or (redis.call('LLEN', KEYS[1]) == 0 and redis.call('LLEN', KEYS[2]) == 0) then
  -- Nothing is queued, so nothing is counted: heals a count a crash left behind (a worker
  -- killed between RQ's start and its decrement). It can forget chunks being started at
  -- this instant (at most a chunk per worker), never more.
  cur = 0
end
local limit, n = tonumber(ARGV[1]), tonumber(ARGV[2])
if limit > 0 and cur + n > limit then
  for i = 4, #KEYS do redis.call('DEL', KEYS[i]) end
  return cur
end
redis.call('SET', KEYS[3], cur + n)
for i = 3, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
return -1
"""

# KEYS: queue, intermediate list, depth counter; ARGV: drop (1: delete the job hash so a
# thawed worker skips it), then (job id, items) pairs. Takes never-started jobs back out of
# the queue or the intermediate list and out of the count; returns the ids it took back.
_UNQUEUE = """
local out = {}
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('LREM', KEYS[1], 0, id) + redis.call('LREM', KEYS[2], 0, id) > 0 then
    local left = redis.call('DECRBY', KEYS[3], tonumber(ARGV[i + 1]))
    if left < 0 then redis.call('SET', KEYS[3], 0) end
    if ARGV[1] == '1' then redis.call('DEL', 'rq:job:' .. id) end
    out[#out + 1] = id
  end
end
return out
"""


@functools.cache
def _gated_queue_class() -> type:
    """An RQ Queue whose enqueue writes the jobs but pushes no id: the admission script does."""
    from rq import Queue

    class GatedQueue(Queue):
        def push_job_id(self, job_id: str, pipeline: Any = None, at_front: bool = False) -> None:
            pass

    return GatedQueue


def _chunk_state(job_id: str, attempt: int, send: int) -> dict[str, Any]:
    return {"job_id": job_id, "attempt": attempt, "send": send, "dead_since": None, "done_since": None, "taken_since": None}


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
        from rq.serializers import JSONSerializer

        self.sync = redis.Redis.from_url(redis_url, **redis_options())
        self.r = aredis.Redis.from_url(redis_url, **redis_options(asyncio=True))
        self.probe = aredis.Redis.from_url(redis_url, **probe_options())
        self.queue = _gated_queue_class()(queue_name, connection=self.sync, serializer=JSONSerializer)
        self.queue_name = queue_name
        self.depth_key = depth_key(queue_name)
        self.chunk_size = chunk_size
        self.item_timeout_s = item_timeout_s
        self.max_queue_depth = max_queue_depth
        self._waiting: list[tuple[list[dict], float, asyncio.Future]] = []
        self._waiting_items = 0
        self._flush_handle: asyncio.TimerHandle | None = None
        self._batches: set[asyncio.Task] = set()

    # -- enqueue ---------------------------------------------------------------

    def _enqueue(self, specs: list[tuple[str, dict, int]], admit: bool = True) -> None:
        """Write the chunks' RQ jobs and, in the same transaction, let the admission script
        push them (or drop them and raise Overloaded). ``admit=False`` re-sends chunks of a
        request that was admitted already: no limit, but counted again."""
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
        ids = [job_id for job_id, _, _ in specs]
        n = sum(len(payload["items"]) for _, payload, _ in specs)
        with self.sync.pipeline(transaction=True) as pipe:
            self.queue.enqueue_many(datas, pipeline=pipe)  # job hashes only: _GatedQueue pushes nothing
            keys = [self.queue.key, self.queue.intermediate_queue_key, self.depth_key, *(f"rq:job:{i}" for i in ids)]
            pipe.eval(_ADMIT, len(keys), *keys, self.max_queue_depth if admit else 0, n, *ids)  # EVAL: no SCRIPT EXISTS trip
            refused_at = pipe.execute()[-1]
        if refused_at != -1:
            raise Overloaded(f"{refused_at} items are waiting (limit {self.max_queue_depth}); retry later")

    def _take_back(self, jobs: list[tuple[str, int]], drop: bool) -> set[str]:
        """Take never-started jobs out of the queue (or RQ's intermediate list) and the count."""
        if not jobs:
            return set()
        args: list[Any] = [1 if drop else 0]
        for jid, n in jobs:
            args += [jid, n]
        got = self.sync.eval(_UNQUEUE, 3, self.queue.key, self.queue.intermediate_queue_key, self.depth_key, *args)
        return {g.decode() if isinstance(g, bytes) else g for g in got}

    def _payload(self, rid: str, idx: int, attempt: int, items: list[dict], send: int = 1) -> tuple[str, dict, int]:
        budgets = [item_budget(it, self.item_timeout_s) for it in items]
        payload = {
            "request_id": rid,
            "http_request_ids": sorted({it["_rid"] for it in items if it.get("_rid")}),
            "results_key": f"verirl:res:{rid}",
            "depth_key": self.depth_key,
            "chunk": idx,
            "attempt": attempt,
            "items": items,
            "budgets": budgets,
        }
        return f"verirl-{rid}-{idx}-{send}", payload, int(sum(budgets)) + 60

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
        rid = uuid.uuid4().hex
        chunks = _chunks(len(items), self.chunk_size)
        specs = [self._payload(rid, i, 1, [items[j] for j in rng]) for i, rng in enumerate(chunks)]
        try:
            await asyncio.to_thread(self._enqueue, specs)
        except Overloaded:
            raise
        except Exception as exc:  # redis down: a clean 503, never a hang
            raise ServiceUnavailable(f"queue unavailable: {type(exc).__name__}") from None
        results: list[dict | None] = [None] * len(items)
        pending: dict[int, dict[str, Any]] = {i: _chunk_state(specs[i][0], 1, 1) for i in range(len(chunks))}
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
            try:
                await asyncio.to_thread(self._cancel, [(p["job_id"], len(chunks[i])) for i, p in pending.items()])
            except Exception as exc:
                log.warning("could not cancel %d chunks of %s: %s", len(pending), rid, exc)
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
        inter = self.queue.intermediate_queue_key
        async with self.r.pipeline(transaction=False) as p:
            for i in idxs:
                jid = pending[i]["job_id"]
                p.hget(f"rq:job:{jid}", "status")
                p.exists(f"verirl:hb:{jid}")
                p.lpos(inter, jid)
            raw = await p.execute()
        now = time.monotonic()
        lost: list[tuple[int, str]] = []  # started, then its worker went away: counts as an attempt
        taken: list[int] = []  # taken off the queue, never started
        for n, i in enumerate(idxs):
            status = raw[3 * n].decode() if raw[3 * n] else None
            beating = bool(raw[3 * n + 1])
            in_intermediate = raw[3 * n + 2] is not None
            st = pending[i]
            if status == "queued" and in_intermediate:
                st["taken_since"] = st["taken_since"] or now
                if now - st["taken_since"] >= TAKEN_GRACE_S:
                    taken.append(i)
                continue
            st["taken_since"] = None
            if status in ("failed", "stopped", "canceled"):
                lost.append((i, f"job {status}"))
            elif status == "started" and not beating:
                st["dead_since"] = st["dead_since"] or now
                if now - st["dead_since"] >= HEARTBEAT_GRACE_S:
                    lost.append((i, "worker stopped beating"))
            elif status in ("finished", None):
                st["done_since"] = st["done_since"] or now
                if now - st["done_since"] >= HEARTBEAT_GRACE_S:
                    lost.append((i, "job vanished" if status is None else "job finished without results"))
            else:
                st["dead_since"] = None
        respecs = []
        if taken:
            # Take them back first: a job some worker started meanwhile stays where it is.
            back = await asyncio.to_thread(self._take_back, [(pending[i]["job_id"], len(chunks[i])) for i in taken], True)
            for i in taken:
                st = pending[i]
                if st["job_id"] not in back:
                    st["taken_since"] = None
                    continue
                if st["send"] >= MAX_SENDS:
                    self._give_up(rid, i, chunks, items, pending, results, "taken by workers that never started it")
                    continue
                log.warning("chunk %s of %s was taken by a worker that never started it (froze or died after the"
                            " take); re-sending it now", i, rid)
                spec = self._payload(rid, i, st["attempt"], [items[j] for j in chunks[i]], st["send"] + 1)
                respecs.append(spec)
                pending[i] = _chunk_state(spec[0], st["attempt"], st["send"] + 1)
        for i, reason in lost:
            st = pending[i]
            if st["attempt"] < MAX_ATTEMPTS and st["send"] < MAX_SENDS:
                log.warning("chunk %s of %s lost (%s); re-enqueueing", i, rid, reason)
                spec = self._payload(rid, i, st["attempt"] + 1, [items[j] for j in chunks[i]], st["send"] + 1)
                respecs.append(spec)
                pending[i] = _chunk_state(spec[0], st["attempt"] + 1, st["send"] + 1)
            else:
                self._give_up(rid, i, chunks, items, pending, results, reason)
        if respecs:
            await asyncio.to_thread(self._enqueue, respecs, False)

    @staticmethod
    def _give_up(rid: str, i: int, chunks: list[range], items: list[dict], pending: dict, results: list, reason: str) -> None:
        log.error("chunk %s of %s lost again (%s); marking its items error", i, rid, reason)
        for j in chunks[i]:
            results[j] = failure_result(items[j], "error", f"worker lost while grading ({reason})")
        del pending[i]

    def _cancel(self, jobs: list[tuple[str, int]]) -> None:
        """At the deadline: drop chunks no worker started; cancel the running ones."""
        from rq.job import Job

        back = self._take_back(jobs, drop=True)
        for jid, _ in jobs:
            if jid in back:
                continue
            try:
                Job.fetch(jid, connection=self.sync).cancel()
            except Exception:
                pass

    # -- status ----------------------------------------------------------------

    async def workers(self, client: Any = None) -> list[dict[str, Any]]:
        """The workers announcing now (``verirl:workers`` indexes the names; each announcement
        expires seconds after its worker stops). Two round trips, however big the keyspace."""
        r = client or self.r
        names = sorted(n.decode() for n in await r.smembers(WORKERS_KEY))
        if not names:
            return []
        raws = await r.mget([f"verirl:worker:{n}" for n in names])
        gone = [n for n, raw in zip(names, raws, strict=True) if raw is None]
        if gone:
            await r.srem(WORKERS_KEY, *gone)
        return [json.loads(raw) for raw in raws if raw is not None]

    async def info(self) -> dict[str, Any]:
        return {"workers": await self.workers(), "queue": self.queue_name}

    async def isolation(self) -> dict[str, Any]:
        """What each live worker's sandbox provides (each checks once at its start-up and announces it)."""
        return {"workers": {w.get("name"): w.get("isolation", {"available": None}) for w in await self.workers()}}

    async def ready(self) -> tuple[bool, str]:
        """One bounded probe (no retries): answers within a second even when Redis is gone."""
        try:
            n = len(await self.workers(self.probe))
        except Exception as exc:
            return False, f"redis unreachable: {type(exc).__name__}"
        return (n > 0, f"{n} workers alive")

    async def queue_depth(self) -> int:
        try:
            raw = await self.r.get(self.depth_key)
        except Exception as exc:
            raise ServiceUnavailable(f"queue unavailable: {type(exc).__name__}") from None
        return max(0, int(raw or 0))

    async def close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        for t in list(self._batches):
            t.cancel()
        await self.r.aclose()
        await self.probe.aclose()
        self.sync.close()
