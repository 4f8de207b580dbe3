"""Chaos soak (`python bench/load.py --chaos`): a distributed deployment on this machine
(Redis with AOF, 2 APIs, 3 workers) under steady trainer-like load while faults are
injected on a schedule, one fault per window:

    baseline | worker SIGKILL (restarted under its name) | worker SIGSTOP (10 s) |
    Redis restart (4 s down) | API SIGKILL (clients fail over; restarted) | burst over the queue limit

Clients send 8-item requests with known verdicts (unique ids, half right, half wrong)
and retry 429, 503 and connection errors, as verirl.Client does, failing over between
the APIs. Every item is checked. Per window (by request start) it reports requests
answered 200, attempts answered 429 / 503 / other 5xx / no connection, and items
missing, duplicated, flipped, not graded (timeout or error), and delayed past 2x the
baseline p99, with the slowest request. Exits non-zero on any 5xx, missing,
duplicated or flipped item.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
from _common import REPO, machine, table

CLIENTS = 8
ITEMS = 8
WINDOWS = ("baseline", "worker SIGKILL", "worker SIGSTOP", "Redis restart", "API SIGKILL", "burst over the limit")
LIMIT = 3000


def _request(client: int, n: int, size: int = ITEMS, tag: str = "c") -> tuple[dict, list[tuple[str, str]]]:
    items, want = [], []
    for j in range(size):
        v = (client * 1_000_003 + n * 131 + j) % 9_999_991
        right = j % 2 == 0
        iid = f"{tag}{client}-{n}-{j}"
        items.append({"id": iid, "completion": rf"The answer is \boxed{{{v}}}.", "answer": str(v if right else v + 1)})
        want.append((iid, "correct" if right else "incorrect"))
    return {"items": items, "options": {"deadline_s": 60}}, want


class Soak:
    def __init__(self, tmp: Path, window_s: float) -> None:
        from tests import procs

        self.procs = procs
        self.tmp = tmp
        self.window_s = window_s
        self.redis_port = procs.free_port()
        self.redis, self.rurl = procs.start_redis(tmp, appendonly=True, port=self.redis_port)
        env = {"VERIRL_MAX_QUEUE_DEPTH": str(LIMIT), "VERIRL_CHUNK_SIZE": "16", "VERIRL_JOB_LEASE_S": "6"}
        self.env = env
        self.apis: list = []
        self.urls: list[str] = []
        for k in range(2):
            (tmp / f"api{k}").mkdir()
            p, u = procs.start_server(tmp / f"api{k}", redis_url=self.rurl, **env)
            self.apis.append(p)
            self.urls.append(u)
        self.workers = {f"chaos{i}": procs.start_worker(tmp, self.rurl, 1, name=f"chaos{i}") for i in range(3)}
        for p, u in zip(self.apis, self.urls, strict=True):
            procs.wait_http(u + "/readyz", p, timeout=120)
        self.lock = threading.Lock()
        self.window = 0
        self.attempts: dict[int, Counter] = defaultdict(Counter)
        self.done: list[dict] = []
        self.stop = threading.Event()

    # -- clients ---------------------------------------------------------------

    def _send(self, body: dict, prefer: int, give_up_s: float = 120) -> tuple[int, dict | None, int]:
        """POST until 200 (retrying 429, 503 and connection errors); returns (status, json, window)."""
        window = self.window
        end = time.monotonic() + give_up_s
        k = prefer
        delay = 0.1
        while time.monotonic() < end:
            with self.lock:
                url = self.urls[k % len(self.urls)]
            try:
                r = httpx.post(url + "/v1/score", json=body, timeout=90)
                status = r.status_code
            except httpx.HTTPError:
                status = 0
            with self.lock:
                self.attempts[window][status] += 1
            if status == 200:
                return 200, r.json(), window
            if status not in (0, 429, 503):
                return status, None, window
            k += 1  # fail over to the other API
            time.sleep(delay)
            delay = min(2.0, delay * 2)
        return -1, None, window

    def _check(self, want: list[tuple[str, str]], status: int, data: dict | None, window: int, seconds: float, burst: bool) -> None:
        out = {"window": window, "seconds": seconds, "burst": burst, "missing": 0, "duplicated": 0, "flipped": 0, "not_graded": 0, "ok": status == 200}
        if data is None:
            out["missing"] = len(want)
        else:
            got = [r["id"] for r in data["results"]]
            seen = Counter(got)
            out["duplicated"] = sum(c - 1 for c in seen.values() if c > 1)
            out["missing"] = sum(1 for iid, _ in want if iid not in seen)
            by_id = {r["id"]: r["verdict"] for r in data["results"]}
            for iid, verdict in want:
                v = by_id.get(iid)
                if v in ("timeout", "error"):
                    out["not_graded"] += 1
                elif v is not None and v != verdict:
                    out["flipped"] += 1
        with self.lock:
            self.done.append(out)

    def client(self, c: int) -> None:
        n = 0
        while not self.stop.is_set():
            body, want = _request(c, n)
            t = time.monotonic()
            status, data, window = self._send(body, c)
            self._check(want, status, data, window, time.monotonic() - t, False)
            n += 1

    def burst(self) -> None:
        def one(b: int) -> None:
            body, want = _request(100 + b, 0, size=800, tag="b")
            t = time.monotonic()
            window = self.window
            try:
                r = httpx.post(self.urls[b % len(self.urls)] + "/v1/score", json=body, timeout=120)
                status, data = r.status_code, (r.json() if r.status_code == 200 else None)
            except httpx.HTTPError:
                status, data = 0, None
            with self.lock:
                self.attempts[window][status] += 1
            if status == 200:
                self._check(want, status, data, window, time.monotonic() - t, True)

        ts = [threading.Thread(target=one, args=(b,)) for b in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    # -- faults ----------------------------------------------------------------

    def fault(self, name: str) -> None:
        p = self.procs
        w = self.window_s
        if name == "worker SIGKILL":
            time.sleep(1)
            self.workers["chaos0"].kill()
            time.sleep(2)
            self.workers["chaos0"] = p.start_worker(self.tmp, self.rurl, 1, name="chaos0")
        elif name == "worker SIGSTOP":
            time.sleep(1)
            os.killpg(self.workers["chaos1"].pid, signal.SIGSTOP)
            time.sleep(min(10, w - 2))
            os.killpg(self.workers["chaos1"].pid, signal.SIGCONT)
        elif name == "Redis restart":
            time.sleep(1)
            self.redis.stop()
            time.sleep(4)
            self.redis, _ = p.start_redis(self.tmp, appendonly=True, port=self.redis_port)
        elif name == "API SIGKILL":
            time.sleep(1)
            with self.lock:
                dead = self.apis.pop(1)
                self.urls.pop(1)
            dead.kill()
            time.sleep(3)
            (self.tmp / "api2").mkdir(exist_ok=True)
            proc, url = p.start_server(self.tmp / "api2", redis_url=self.rurl, **self.env)
            with self.lock:
                self.apis.append(proc)
                self.urls.append(url)
        elif name == "burst over the limit":
            time.sleep(1)
            self.burst()

    def run(self) -> list[list]:
        clients = [threading.Thread(target=self.client, args=(c,)) for c in range(CLIENTS)]
        for t in clients:
            t.start()
        try:
            for i, name in enumerate(WINDOWS):
                self.window = i
                t0 = time.monotonic()
                self.fault(name)
                time.sleep(max(0.0, self.window_s - (time.monotonic() - t0)))
        finally:
            self.stop.set()
            for t in clients:
                t.join(180)
        return self.rows()

    def rows(self) -> list[list]:
        base = sorted(d["seconds"] for d in self.done if d["window"] == 0 and not d["burst"])
        p99 = base[min(len(base) - 1, int(0.99 * len(base)))] if base else 1.0
        rows = []
        for i, name in enumerate(WINDOWS):
            ds = [d for d in self.done if d["window"] == i]
            a = self.attempts[i]
            fives = sum(v for k, v in a.items() if k >= 500 and k != 503)
            slow = [d for d in ds if not d["burst"]]
            rows.append([
                name, sum(d["ok"] for d in ds), a[429], a[503], fives, a[0],
                sum(d["missing"] for d in ds), sum(d["duplicated"] for d in ds), sum(d["flipped"] for d in ds),
                sum(d["not_graded"] for d in ds),
                sum(ITEMS for d in slow if d["seconds"] > 2 * p99),
                f"{max((d['seconds'] for d in slow), default=0):.1f}",
            ])
        self.p99 = p99
        return rows

    def close(self) -> None:
        for w in self.workers.values():
            try:
                os.killpg(w.pid, signal.SIGCONT)
            except (ProcessLookupError, PermissionError):
                pass
            w.stop()
        for a in self.apis:
            a.stop()
        self.redis.stop()


HEADERS = ["window", "requests OK", "429", "503", "5xx", "no connection", "missing", "duplicated", "flipped",
           "not graded", "items delayed > 2x p99", "slowest s"]


def main(window_s: float = 12.0) -> None:
    with tempfile.TemporaryDirectory() as d:
        soak = Soak(Path(d), window_s)
        try:
            rows = soak.run()
        finally:
            soak.close()
    print(f"machine: {machine()}")
    print(f"chaos: Redis (AOF) + 2 APIs + 3 workers (1 verifier each), {CLIENTS} clients x {ITEMS}-item requests, "
          f"{window_s:.0f} s windows; baseline p99 {soak.p99 * 1000:.0f} ms\n")
    print(table(HEADERS, rows))
    bad = [r[0] for r in rows if r[4] or r[6] or r[7] or r[8]]
    assert not bad, f"5xx, missing, duplicated or flipped items in: {bad}"


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(REPO))
    main()
