"""What the service is doing: Prometheus metrics and the short history the status
page shows (the request id itself lives in :mod:`verirl.logs`).

Metrics are recorded in the API process from the results it returns, so they
cover both modes (in distributed mode the grading happens in workers, and the
results come back through the API). Queue depth and worker count are read from
the dispatcher at scrape time, within a second; when the store cannot be read
(Redis down), a scrape still succeeds with the last values read, marked by
``verirl_gauges_stale 1`` and their age in ``verirl_gauges_age_seconds``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from verirl.logs import request_id_var
from verirl.schemas import FAILURE_VERDICTS

#: At most one label-error warning per endpoint in this many seconds (the rest are counted in it).
LABEL_WARN_EVERY_S = 10.0
log = logging.getLogger("verirl.api")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\[\d+\]")

_LAT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_VERIFY_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30)
GAUGE_READ_TIMEOUT_S = 1.0
WINDOW_S = 10
HISTORY = 90  # windows: 15 minutes


class Recorder:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http = Histogram("verirl_http_request_seconds", "HTTP request latency", ["method", "route", "status"], registry=r, buckets=_LAT_BUCKETS)
        self.items = Counter("verirl_items_total", "Items graded, by task and verdict", ["task", "verdict"], registry=r)
        self.verify = Histogram("verirl_verify_seconds", "Verification time of one item, by task and deciding layer", ["task", "layer"], registry=r, buckets=_VERIFY_BUCKETS)
        self.sandbox = Counter("verirl_sandbox_runs_total", "Sandboxed test runs, by outcome", ["verdict"], registry=r)
        self.label_errors = Counter(
            "verirl_label_errors_total", "Items whose label (ground truth) is missing, empty or unreadable, by endpoint", ["endpoint"], registry=r
        )
        self.problems = Counter("verirl_problems_registered_total", "Problems registered", registry=r)
        self.queue = Gauge("verirl_queue_depth", "Items waiting for a verifier", registry=r)
        self.workers = Gauge("verirl_workers", "Workers (distributed) or verifier processes (embedded) alive", registry=r)
        self.stale = Gauge("verirl_gauges_stale", "1 when queue depth and workers could not be read at this scrape (they show the last values read)", registry=r)
        self.gauges_age = Gauge("verirl_gauges_age_seconds", "Seconds since queue depth and workers were last read", registry=r)
        self._gauges_at: float | None = None
        self._label_warned: dict[str, float] = {}
        self._label_quiet: collections.Counter[str] = collections.Counter()
        self._items_by: dict[tuple[str, str], Any] = {}
        self.windows: collections.deque[dict[str, Any]] = collections.deque(maxlen=HISTORY)
        self.errors: collections.deque[dict[str, Any]] = collections.deque(maxlen=20)
        self.started = time.time()

    def _window(self) -> dict[str, Any]:
        start = int(time.time() // WINDOW_S) * WINDOW_S
        if not self.windows or self.windows[-1]["t"] != start:
            self.windows.append({"t": start, "items": 0, "verdicts": collections.Counter(), "tasks": collections.Counter()})
        return self.windows[-1]

    def record_results(self, items: list[dict | None], results: list[dict], endpoint: str = "score") -> None:
        """Count the results of one request (``endpoint``: the label of its label errors)."""
        w = self._window()
        rid = request_id_var.get()
        counts: collections.Counter[tuple[str, str]] = collections.Counter()
        label_errors: list[dict] = []
        for item, res in zip(items, results, strict=True):
            task = (item or {}).get("task", "math")
            verdict = res.get("verdict", "error")
            counts[(task, verdict)] += 1
            details = res.get("details") or {}
            ms = details.get("verify_ms")
            if isinstance(ms, int | float):
                self.verify.labels(task, str(details.get("layer") or details.get("code_verdict") or "-")).observe(ms / 1000)
            tests = details.get("tests")
            if tests:
                for t in tests:
                    if isinstance(t, dict):
                        self.sandbox.labels(str(t.get("verdict") or t.get("status") or "unknown")).inc()
            if verdict in FAILURE_VERDICTS:
                err = details.get("error")
                msg = err.get("message") if isinstance(err, dict) else err
                self.errors.append({"t": time.time(), "request_id": rid, "id": res.get("id"), "verdict": verdict, "message": str(msg or verdict)[:200]})
                if isinstance(err, dict) and err.get("code") == "invalid_label":
                    label_errors.append(err)
        for (task, verdict), n in counts.items():
            child = self._items_by.get((task, verdict))
            if child is None:
                child = self._items_by[(task, verdict)] = self.items.labels(task, verdict)
            child.inc(n)
            w["verdicts"][verdict] += n
            w["tasks"][(task, verdict)] += n
        w["items"] += len(results)
        if label_errors:
            self.label_errors.labels(endpoint).inc(len(label_errors))
            self._warn_labels(endpoint, label_errors)

    def _warn_labels(self, endpoint: str, errs: list[dict]) -> None:
        """A WARNING naming the label problem, at most one per endpoint every LABEL_WARN_EVERY_S:
        slime reads only a number, so the server's log is where its operator sees it."""
        now = time.monotonic()
        err = errs[0]
        # per endpoint and kind of problem (the message without the quoted values)
        key = f"{endpoint}|{err.get('field')}|{_QUOTED.sub('', str(err.get('message')))[:80]}"
        last = self._label_warned.get(key)
        if last is not None and now - last < LABEL_WARN_EVERY_S:
            self._label_quiet[key] += len(errs)
            return
        if len(self._label_warned) > 1000:
            self._label_warned.clear()
        self._label_warned[key] = now
        quiet = self._label_quiet.pop(key, 0) + len(errs) - 1
        more = f" (and {quiet} more since the last such line)" if quiet else ""
        log.warning("label error from %s: item verdict `error`, not graded: %s: %s%s; counted in verirl_label_errors_total",
                    endpoint, err.get("field"), err.get("message"), more)

    def record_http(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http.labels(method, route, str(status)).observe(seconds)
        if status >= 500:
            self.errors.append({"t": time.time(), "request_id": request_id_var.get(), "id": None, "verdict": f"HTTP {status}", "message": f"{method} {route}"})

    def history(self) -> list[dict[str, Any]]:
        now = int(time.time() // WINDOW_S) * WINDOW_S
        by_t = {w["t"]: w for w in self.windows}
        out = []
        for k in range(HISTORY - 1, -1, -1):
            t = now - k * WINDOW_S
            w = by_t.get(t)
            out.append({"t": t, "items": w["items"] if w else 0, "verdicts": dict(w["verdicts"]) if w else {},
                        "tasks": dict(w["tasks"]) if w else {}})
        return out

    async def refresh_gauges(self, read: Callable[[], Awaitable[tuple[int, int]]]) -> None:
        """Read (queue depth, workers) within a second; on failure keep the last values, marked stale."""
        try:
            depth, workers = await asyncio.wait_for(read(), GAUGE_READ_TIMEOUT_S)
        except Exception as exc:
            self.stale.set(1)
            logging.getLogger("verirl.api").warning("metrics: serving last-known gauges (%s)", type(exc).__name__)
        else:
            self.queue.set(depth)
            self.workers.set(workers)
            self.stale.set(0)
            self._gauges_at = time.time()
        self.gauges_age.set(time.time() - (self._gauges_at or self.started))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


RECORDER = Recorder()
