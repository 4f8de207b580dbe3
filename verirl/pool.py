"""A pool of verifier processes whose every item has a deadline enforced by a kill.

Why not ``signal.alarm``: math-verify arms its own alarm and cancels any outer
one when it returns, RQ's job timeout uses the same alarm, and an alarm cannot
interrupt C code (sympy's big-integer arithmetic). A process can always be
killed. Each child grades one item at a time; the parent's scheduler thread
watches the deadline of every item in flight, kills the child's whole process
group when it passes (verdict ``timeout``), notices a child that died (verdict
``error``) and starts a replacement either way. The pool is thread-safe:
``submit`` returns a :class:`concurrent.futures.Future`.

Children are forked from a ``forkserver`` that imported and warmed the
verifiers once, so a replacement costs milliseconds, not an import of sympy.
"""

from __future__ import annotations

import collections
import ctypes
import itertools
import logging
import multiprocessing
import multiprocessing.connection as mpc
import os
import signal
import threading
import time
from concurrent.futures import Future
from typing import Any

log = logging.getLogger("verirl.pool")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:  # not Linux: the pool still works, orphans are possible
        pass


def _child_main(conn: mpc.Connection) -> None:
    """Loop of one verifier process: receive an item, grade it, send the result."""
    os.setpgid(0, 0)  # own process group, so a kill takes any helper it started
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from verirl.scoring import score_item

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        if msg is None:
            os._exit(0)
        task_id, item = msg
        try:
            result = score_item(item)
        except BaseException as exc:  # a verifier bug is an `error` verdict, never a silent 0
            from verirl.scoring import failure_result

            result = failure_result(item, "error", f"verifier crashed: {type(exc).__name__}")
        try:
            conn.send((task_id, result))
        except (EOFError, OSError):
            os._exit(0)


class _Child:
    __slots__ = ("proc", "conn", "task")

    def __init__(self, proc: multiprocessing.process.BaseProcess, conn: mpc.Connection) -> None:
        self.proc = proc
        self.conn = conn
        self.task: tuple[int, dict, Future, float] | None = None


class VerifierPool:
    """``size`` verifier processes; ``submit(item, timeout_s)`` -> Future[result dict]."""

    def __init__(self, size: int, *, preload: tuple[str, ...] = ("verirl.warm",)) -> None:
        self.size = size
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(list(preload))
        self._lock = threading.Lock()
        self._pending: collections.deque[tuple[int, dict, Future, float]] = collections.deque()
        self._ids = itertools.count()
        self._children: list[_Child] = []
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._closed = False
        self.restarts = 0
        self.completed = 0
        self.timeouts = 0
        self.crashes = 0
        for _ in range(size):
            self._children.append(self._spawn())
        self._thread = threading.Thread(target=self._run, name="verirl-pool", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ public

    def submit(self, item: dict, timeout_s: float) -> Future:
        fut: Future = Future()
        if self._closed:
            raise RuntimeError("pool is closed")
        with self._lock:
            self._pending.append((next(self._ids), item, fut, timeout_s))
        self._wake()
        return fut

    def map(self, items: list[dict], timeouts: list[float]) -> list[dict]:
        futs = [self.submit(it, t) for it, t in zip(items, timeouts, strict=True)]
        return [f.result() for f in futs]

    @property
    def queued(self) -> int:
        return len(self._pending)

    def stats(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "alive": sum(1 for c in self._children if c.proc.is_alive()),
            "busy": sum(1 for c in self._children if c.task is not None),
            "queued": len(self._pending),
            "completed": self.completed,
            "timeouts": self.timeouts,
            "crashes": self.crashes,
            "restarts": self.restarts,
        }

    def child_pids(self) -> list[int]:
        return [c.proc.pid for c in self._children if c.proc.pid]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake()
        self._thread.join(timeout=5)
        for c in self._children:
            self._kill(c)
        with self._lock:
            while self._pending:
                _, item, fut, _ = self._pending.popleft()
                if not fut.done():
                    fut.set_result(_failure(item, "error", "verifier pool shut down"))
        os.close(self._wake_r)
        os.close(self._wake_w)

    # ------------------------------------------------------------------ internals

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def _spawn(self) -> _Child:
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_child_main, args=(child_conn,), daemon=True)
        proc.start()
        child_conn.close()
        return _Child(proc, parent_conn)

    def _kill(self, child: _Child) -> None:
        pid = child.proc.pid
        if pid:
            for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    target()
                except (ProcessLookupError, PermissionError):
                    pass
        child.proc.join(timeout=2)
        child.conn.close()

    def _replace(self, child: _Child) -> None:
        self._kill(child)
        self.restarts += 1
        idx = self._children.index(child)
        if not self._closed:
            self._children[idx] = self._spawn()

    def _assign(self) -> None:
        now = time.monotonic()
        for child in self._children:
            if child.task is not None:
                continue
            with self._lock:
                task = None
                while self._pending:
                    cand = self._pending.popleft()
                    if cand[2].set_running_or_notify_cancel():
                        task = cand
                        break
            if task is None:
                return
            tid, item, fut, timeout_s = task
            try:
                child.conn.send((tid, item))
            except (OSError, ValueError):
                fut.set_result(_failure(item, "error", "verifier process unavailable"))
                self.crashes += 1
                self._replace(child)
                continue
            child.task = (tid, item, fut, now + timeout_s)

    def _run(self) -> None:
        while not self._closed:
            try:
                self._step()
            except Exception:  # the scheduler must never die silently
                log.exception("verifier pool scheduler error")
                time.sleep(0.05)

    def _step(self) -> None:
        self._assign()
        busy = [c for c in self._children if c.task is not None]
        now = time.monotonic()
        wait_s = min((c.task[3] for c in busy if c.task), default=now + 1.0) - now
        objs: list[Any] = [self._wake_r]
        for c in busy:
            objs.append(c.conn)
            objs.append(c.proc.sentinel)
        ready = mpc.wait(objs, timeout=max(0.0, min(wait_s, 1.0)))
        if self._wake_r in ready:
            try:
                os.read(self._wake_r, 4096)
            except BlockingIOError:
                pass
        now = time.monotonic()
        for c in busy:
            assert c.task is not None
            tid, item, fut, deadline = c.task
            if c.conn in ready:
                try:
                    got_tid, result = c.conn.recv()
                except (EOFError, OSError):
                    got_tid, result = None, None
                if got_tid == tid:
                    c.task = None
                    self.completed += 1
                    fut.set_result(result)
                    continue
            if c.proc.sentinel in ready or not c.proc.is_alive():
                c.task = None
                self.crashes += 1
                fut.set_result(_failure(item, "error", f"verifier process died (exit {c.proc.exitcode})"))
                self._replace(c)
            elif now >= deadline:
                c.task = None
                self.timeouts += 1
                fut.set_result(_failure(item, "timeout", "verification exceeded its time budget"))
                self._replace(c)


def _failure(item: dict, verdict: str, message: str) -> dict:
    from verirl.scoring import failure_result

    return failure_result(item, verdict, message)
