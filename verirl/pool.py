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
import pickle
import select
import signal
import socket
import struct
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


#: A result frame (child to parent): 4-byte little-endian length, then the pickle of (task id, result).
_FRAME = struct.Struct("<I")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _child_main(conn: mpc.Connection) -> None:
    """Loop of one verifier process: receive a chunk of items, grade them in order,
    send each result as soon as it is ready (the parent times each item from the
    arrival of the previous result). Results go back as length-prefixed frames in
    one write each, so the parent reads all that are waiting in one system call."""
    os.setpgid(0, 0)  # own process group, so a kill takes any helper it started
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from verirl.scoring import score_item

    fd = conn.fileno()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        if msg is None:
            os._exit(0)
        for task_id, item in msg:
            try:
                result = score_item(item)
            except BaseException as exc:  # a verifier bug is an `error` verdict, never a silent 0
                from verirl.scoring import failure_result

                result = failure_result(item, "error", f"verifier crashed: {type(exc).__name__}")
            data = pickle.dumps((task_id, result), protocol=pickle.HIGHEST_PROTOCOL)
            try:
                _write_all(fd, _FRAME.pack(len(data)) + data)
            except OSError:
                os._exit(0)


class _Child:
    """A verifier process and the items sent to it, oldest (the running one) first."""

    __slots__ = ("proc", "conn", "tasks", "head_deadline", "sock", "buf", "fd", "sentinel")

    def __init__(self, proc: multiprocessing.process.BaseProcess, conn: mpc.Connection) -> None:
        self.proc = proc
        self.conn = conn
        self.fd = conn.fileno()
        self.sentinel = proc.sentinel
        # The same socket, read without blocking (MSG_DONTWAIT), so sends stay blocking.
        self.sock = socket.socket(fileno=os.dup(self.fd))
        self.buf = bytearray()
        self.tasks: collections.deque[tuple[int, dict, Future, float]] = collections.deque()
        self.head_deadline = 0.0

    def read_available(self) -> bool:
        """Append every byte waiting on the pipe to ``buf``; False at end of file (the process is gone)."""
        while True:
            try:
                chunk = self.sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            if not chunk:
                return False
            self.buf += chunk
            if len(chunk) < 1 << 20:
                return True

    def next_frame(self) -> tuple[int, dict] | None:
        """The next complete (task id, result) in ``buf``, or None."""
        if len(self.buf) < 4:
            return None
        (n,) = _FRAME.unpack_from(self.buf)
        if len(self.buf) < 4 + n:
            return None
        obj = pickle.loads(self.buf[4 : 4 + n])
        del self.buf[: 4 + n]
        return obj

    def close(self) -> None:
        self.sock.close()
        self.conn.close()


#: Items in flight per verifier process: the next ones are already in its pipe
#: when it finishes the current one, so it never waits for the scheduler thread.
#: Items go out in chunks (one IPC message for up to MAX_INFLIGHT items): a
#: process holds at least PIPELINE_DEPTH and, when many items wait, its share
#: of them up to MAX_INFLIGHT. Items sent to a process that is killed go back
#: to the front of the queue, so a deep pipe costs no correctness.
PIPELINE_DEPTH = 4
MAX_INFLIGHT = 32


class VerifierPool:
    """``size`` verifier processes; ``submit(item, timeout_s)`` -> Future[result dict].

    Each item has its own kill deadline, counted from when its process starts it
    (the previous result arrived): past it the process is killed and replaced,
    the item is ``timeout`` and the items queued behind it go back to the
    front of the queue.
    """

    def __init__(self, size: int, *, preload: tuple[str, ...] = ("verirl.warm",), background: bool = False) -> None:
        """``background``: start the verifier processes (and the fork server's warm-up, seconds)
        in the scheduler thread, so the constructor returns at once; items submitted meanwhile
        wait in the queue and ``warming`` is true until every process is up."""
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
        self.started = threading.Event()
        self.start_error: BaseException | None = None
        if not background:
            self._start_children()
        self._thread = threading.Thread(target=self._run, name="verirl-pool", daemon=True)
        self._thread.start()

    def _start_children(self) -> None:
        t0 = time.monotonic()
        try:
            for _ in range(self.size):
                if self._closed:
                    return
                self._children.append(self._spawn())
            log.info("%d verifier processes started in %.1f s", self.size, time.monotonic() - t0)
        except BaseException as exc:
            with self._lock:
                self.start_error = exc
                failed = list(self._pending)
                self._pending.clear()
            for _, item, fut, _ in failed:
                if fut.set_running_or_notify_cancel():
                    fut.set_result(_failure(item, "error", f"verifier processes could not be started: {exc}"))
            raise
        finally:
            self.started.set()

    @property
    def warming(self) -> bool:
        """True while the verifier processes are being started (``background=True``)."""
        return not self.started.is_set()

    # ------------------------------------------------------------------ public

    def submit(self, item: dict, timeout_s: float) -> Future:
        fut: Future = Future()
        if self._closed:
            raise RuntimeError("pool is closed")
        with self._lock:
            if self.start_error is not None:
                raise RuntimeError(f"verifier processes could not be started: {self.start_error}")
            self._pending.append((next(self._ids), item, fut, timeout_s))
        self._wake()
        return fut

    def submit_many(self, items: list[dict], timeouts: list[float]) -> list[Future]:
        """``submit`` for many items at once: one lock, one wake-up of the scheduler."""
        if self._closed:
            raise RuntimeError("pool is closed")
        futs: list[Future] = [Future() for _ in items]
        with self._lock:
            if self.start_error is not None:
                raise RuntimeError(f"verifier processes could not be started: {self.start_error}")
            self._pending.extend(
                (next(self._ids), it, f, t) for it, f, t in zip(items, futs, timeouts, strict=True)
            )
        self._wake()
        return futs

    def map(self, items: list[dict], timeouts: list[float]) -> list[dict]:
        return [f.result() for f in self.submit_many(items, timeouts)]

    @property
    def queued(self) -> int:
        """Items not started yet: waiting here or in a process's pipe behind its running item."""
        return len(self._pending) + sum(max(0, len(c.tasks) - 1) for c in self._children)

    def stats(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "alive": sum(1 for c in self._children if c.proc.is_alive()),
            "busy": sum(1 for c in self._children if c.tasks),
            "queued": self.queued,
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
            while c.tasks:
                _, item, fut, _ = c.tasks.popleft()
                if not fut.done():
                    fut.set_result(_failure(item, "error", "verifier pool shut down"))
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
        child.close()

    def _replace(self, child: _Child) -> None:
        self._kill(child)
        self.restarts += 1
        idx = self._children.index(child)
        if not self._closed:
            self._children[idx] = self._spawn()

    def _take(self, n: int, inflight: int) -> list[tuple[int, dict, Future, float]]:
        """Up to ``n`` items for a process already holding ``inflight``. Only math items (fast,
        sub-millisecond mostly) are queued deeper than PIPELINE_DEPTH behind others."""
        out: list[tuple[int, dict, Future, float]] = []
        with self._lock:
            while self._pending and len(out) < n:
                cand = self._pending[0]
                if inflight + len(out) >= PIPELINE_DEPTH and cand[1].get("task", "math") != "math":
                    break
                self._pending.popleft()
                fut = cand[2]
                if fut.running() or fut.set_running_or_notify_cancel():  # running: re-queued after a kill
                    out.append(cand)
        return out

    def _assign(self) -> None:
        if not self._children:
            return
        # Each chunk to the least-loaded process, never more than its share of what waits: an
        # idle process never waits while another holds a queue (two slow code items run side
        # by side, not one behind the other), and many waiting items go out in few messages.
        while self._pending:
            child = min(self._children, key=lambda c: len(c.tasks))
            share = -(-len(self._pending) // max(1, len(self._children)))
            target = min(MAX_INFLIGHT, max(PIPELINE_DEPTH, share))
            room = target - len(child.tasks)
            if room <= 0 or (child.tasks and room < target // 2):
                return  # the least-loaded process is busy enough: refill later, in a bigger chunk
            tasks = self._take(min(room, share), len(child.tasks))
            if not tasks:
                return
            try:
                child.conn.send([(tid, item) for tid, item, _, _ in tasks])
            except (OSError, ValueError):
                tid, item, fut, _ = tasks[0]
                fut.set_result(_failure(item, "error", "verifier process unavailable"))
                self.crashes += 1
                with self._lock:
                    self._pending.extendleft(reversed(tasks[1:]))
                self._requeue(child)
                self._replace(child)
                continue
            if not child.tasks:
                child.head_deadline = time.monotonic() + tasks[0][3]
            child.tasks.extend(tasks)

    def _requeue(self, child: _Child) -> None:
        """Items sent to a process that is going away, not yet started: back to the front."""
        with self._lock:
            while child.tasks:
                self._pending.appendleft(child.tasks.pop())

    def _run(self) -> None:
        if not self.started.is_set():
            try:
                self._start_children()
            except BaseException:
                log.exception("verifier processes could not be started")
                return
        while not self._closed:
            try:
                self._step()
            except Exception:  # the scheduler must never die silently
                log.exception("verifier pool scheduler error")
                time.sleep(0.05)

    def _step(self) -> None:
        self._assign()
        busy = [c for c in self._children if c.tasks]
        now = time.monotonic()
        wait_s = min((c.head_deadline for c in busy), default=now + 1.0) - now
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        for c in busy:
            poller.register(c.fd, select.POLLIN)
            poller.register(c.sentinel, select.POLLIN)
        try:
            ready = {fd for fd, _ in poller.poll(max(0.0, min(wait_s, 1.0)) * 1000)}
        except InterruptedError:
            ready = set()
        if self._wake_r in ready:
            try:
                os.read(self._wake_r, 4096)
            except BlockingIOError:
                pass
        now = time.monotonic()
        for c in busy:
            # The deadline first: a result still unread when it passes does not count, so a
            # budget is exact (a 1 ns budget is always a timeout) whatever the scheduling.
            if c.fd in ready and now < c.head_deadline:
                self._collect(c)
            if not c.tasks:
                continue
            tid, item, fut, _ = c.tasks[0]
            if now >= c.head_deadline:
                c.tasks.popleft()
                self.timeouts += 1
                fut.set_result(_failure(item, "timeout", "verification exceeded its time budget"))
                self._requeue(c)
                self._replace(c)
            elif c.sentinel in ready:  # the process exited (its sentinel is watched with its pipe)
                c.tasks.popleft()
                self.crashes += 1
                fut.set_result(_failure(item, "error", f"verifier process died (exit {c.proc.exitcode})"))
                self._requeue(c)
                self._replace(c)

    def _collect(self, c: _Child) -> None:
        """Every result the process has written (one read for all of them); the next item's
        deadline starts when the previous result is taken."""
        c.read_available()  # at end of file the process died: handled through its sentinel
        while c.tasks and time.monotonic() < c.head_deadline:
            frame = c.next_frame()
            if frame is None:
                return
            got_tid, result = frame
            tid, _item, fut, _ = c.tasks[0]
            if got_tid != tid:  # cannot happen: a process answers in order
                log.error("verifier answered task %s while %s was expected", got_tid, tid)
                return
            c.tasks.popleft()
            self.completed += 1
            fut.set_result(result)
            if c.tasks:
                c.head_deadline = time.monotonic() + c.tasks[0][3]


def _failure(item: dict, verdict: str, message: str) -> dict:
    from verirl.scoring import failure_result

    return failure_result(item, verdict, message)
