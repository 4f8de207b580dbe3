"""Send prepared items to verifier processes and collect one result per item.

Two dispatchers, one contract (``await score(items, deadline)`` returns a list
of result dicts as long as ``items``, in order, by the deadline):

* :class:`EmbeddedDispatcher` owns a :class:`verirl.pool.VerifierPool` in the
  API process (no Redis).
* :class:`service.rq_dispatch.RQDispatcher` sends chunks of items to RQ workers
  through Redis (distributed mode; see that module).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import threading
import time
from concurrent.futures import Future
from typing import Any, Protocol

from verirl.errors import Overloaded
from verirl.scoring import failure_result, item_budget

log = logging.getLogger("verirl.dispatch")

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
    """Items of requests that arrive in the same event-loop turn go to the verifier
    pool together (one lock, one wake-up of its scheduler, chunked IPC): a trainer's
    64 concurrent one-item requests cost about what one 64-item request costs.
    Each request still completes on its own (one loop wake-up when its last item
    is graded) and by its own deadline."""

    mode = "embedded"

    def __init__(self, workers: int, item_timeout_s: float, max_queue_depth: int) -> None:
        from verirl.pool import VerifierPool

        # Started in the background: the API answers at once, items wait in the pool's queue
        # until the verifier processes are up (the fork server's warm-up takes seconds).
        self.pool = VerifierPool(workers, background=True)
        self.item_timeout_s = item_timeout_s
        self.max_queue_depth = max_queue_depth
        self._waiting: list[tuple[list[dict], list]] = []
        self._flush_scheduled = False
        # Requests whose last item is graded, woken together: one loop wake-up (one system
        # call) per burst of results from the scheduler thread, not one per request.
        self._finished: collections.deque[asyncio.Future] = collections.deque()
        self._wake_lock = threading.Lock()
        self._wake_pending = False
        self._isolation = self._check_isolation()

    async def score(self, items: list[dict], deadline: float) -> list[dict]:
        if self.pool.queued + len(items) > self.max_queue_depth:
            raise Overloaded(f"{self.pool.queued} items are waiting; retry later")
        if not items:
            return []
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()
        left = [len(items)]
        lock = threading.Lock()

        def _one_done(_f: object) -> None:  # runs in the pool's scheduler thread
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                self._finish(loop, done)

        slot: list = [_one_done]  # the flush appends this request's futures
        self._waiting.append((items, slot))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        timer = loop.call_later(max(0.0, deadline - time.monotonic()), _resolve, done)
        try:
            await done
        finally:
            timer.cancel()
        cfuts = slot[1] if len(slot) > 1 else []
        out: list[dict] = []
        for i, it in enumerate(items):
            cf = cfuts[i] if i < len(cfuts) else None
            if cf is not None and cf.done() and not cf.cancelled():
                out.append(cf.result())
            else:
                if cf is not None:
                    cf.cancel()  # a queued item is dropped; a running one ends at its own budget
                out.append(failure_result(it, "timeout", DEADLINE_MESSAGE))
        return out

    def _finish(self, loop: asyncio.AbstractEventLoop, done: asyncio.Future) -> None:
        self._finished.append(done)
        with self._wake_lock:
            if self._wake_pending:
                return  # a wake-up is on its way and will resolve this one too
            self._wake_pending = True
        loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._wake_lock:
            self._wake_pending = False
        while self._finished:
            fut = self._finished.popleft()
            if fut.get_loop() is asyncio.get_running_loop():
                _resolve(fut)
            else:  # another event loop's request (tests): resolved in its own loop
                fut.get_loop().call_soon_threadsafe(_resolve, fut)

    def _flush(self) -> None:
        """Submit every request that arrived in this loop turn as one pool batch."""
        self._flush_scheduled = False
        batch, self._waiting = self._waiting, []
        combined = [it for items, _ in batch for it in items]
        budgets = [item_budget(it, self.item_timeout_s) for it in combined]
        try:
            futs = self.pool.submit_many(combined, budgets)
        except RuntimeError as exc:  # pool closed or failed to start: every item is an error, never a hang
            futs = []
            for it in combined:
                f: Future = Future()
                f.set_result(failure_result(it, "error", "verifier pool shut down" if self.pool._closed else str(exc)))
                futs.append(f)
        pos = 0
        for items, slot in batch:
            mine = futs[pos : pos + len(items)]
            pos += len(items)
            done_cb = slot[0]
            slot.append(mine)
            for f in mine:
                f.add_done_callback(done_cb)

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

    @property
    def warming(self) -> bool:
        """True while the verifier processes start (requests are accepted and wait for them)."""
        return self.pool.warming

    async def ready(self) -> tuple[bool, str]:
        if self.pool.warming:
            return (False, f"warming up: starting {self.pool.size} verifier processes; requests are accepted "
                           "and graded as soon as they are up")
        if self.pool.start_error is not None:
            return (False, f"verifier processes could not be started: {self.pool.start_error}")
        st = self.pool.stats()
        return (st["alive"] > 0, f"{st['alive']}/{st['size']} verifier processes alive")

    async def queue_depth(self) -> int:
        return self.pool.queued

    async def close(self) -> None:
        await asyncio.to_thread(self.pool.close)


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


def make_dispatcher(settings: Any) -> Dispatcher:
    if settings.redis_url:
        from .rq_dispatch import RQDispatcher

        return RQDispatcher(
            settings.redis_url, settings.queue, settings.chunk_size, settings.item_timeout_s, settings.max_queue_depth
        )
    return EmbeddedDispatcher(settings.workers, settings.item_timeout_s, settings.max_queue_depth)

