"""verirl.Client / AsyncClient against a real server (and a flaky loopback one for retries)."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.procs import free_port
from verirl import AsyncClient, Client, ClientError, ServiceUnavailable
from verirl.client import split_batches


def _items(n: int, group_size: int = 4) -> list[dict]:
    out = []
    for i in range(n):
        ans = i % 7
        completion = f"\\boxed{{{ans if i % 3 else ans + 1}}}"
        out.append({"id": f"i{i}", "completion": completion, "answer": str(ans), "group": f"g{i // group_size}"})
    return out


def test_split_batches_keeps_groups_whole() -> None:
    items = _items(30, group_size=4)
    batches = split_batches(items, 10)
    assert sorted(i for b in batches for i in b) == list(range(30))
    for b in batches:
        assert len(b) <= 10
        groups = {items[i]["group"] for i in b}
        for g in groups:  # every group lies in exactly one batch
            assert all(i in b for i, it in enumerate(items) if it["group"] == g)
    # A group larger than the batch is split rather than refused.
    big = [{"completion": "x", "answer": "1", "group": "one"}] * 25
    assert [len(b) for b in split_batches(big, 10)] == [10, 10, 5]


def test_client_batches_in_order_with_whole_groups(embedded_server: str) -> None:
    items = _items(50)
    with Client(embedded_server, batch_size=8) as c:
        out = c.score(items)
        one = c.score(items[:1])
    assert out["stats"]["requests"] == 7  # 13 groups of 4 (last of 2) packed by 2 per request
    assert [r["id"] for r in out["results"]] == [it["id"] for it in items]
    want = ["correct" if i % 3 else "incorrect" for i in range(50)]
    assert [r["verdict"] for r in out["results"]] == want
    assert out["groups"]["g0"]["size"] == 4 and out["groups"]["g12"]["size"] == 2
    assert out["stats"]["verdicts"] == {"correct": want.count("correct"), "incorrect": want.count("incorrect")}
    assert one["results"][0]["id"] == "i0"


def test_async_client_concurrent_batches(embedded_server: str) -> None:
    items = _items(40)

    async def go():
        async with AsyncClient(embedded_server, batch_size=4, max_concurrency=4) as c:
            return await c.score(items), await c.rewards(items[:3])

    out, rewards = asyncio.run(go())
    assert out["stats"]["requests"] == 10
    assert [r["id"] for r in out["results"]] == [it["id"] for it in items]
    assert rewards == [0.0, 1.0, 1.0]


def test_client_error_on_4xx_names_the_field(embedded_server: str) -> None:
    with Client(embedded_server) as c, pytest.raises(ClientError) as ei:
        c.score([{"completion": "x"}], options={"reward": {"bogus": 1}})
    assert ei.value.status_code == 422 and ei.value.field == "options.reward.bogus"


def test_client_gives_up_on_a_dead_server_with_a_clear_error() -> None:
    port = free_port()  # nothing listens there
    with Client(f"http://127.0.0.1:{port}", max_retries=2, backoff_s=0.01) as c, pytest.raises(ServiceUnavailable, match="after 3 attempts"):
        c.score([{"completion": "x", "answer": "1"}])


class _Flaky(BaseHTTPRequestHandler):
    """Answers 429 (Retry-After: 0), then 503, then a valid ScoreResponse."""

    calls: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        n = int(self.headers["content-length"])
        body = json.loads(self.rfile.read(n))
        _Flaky.calls.append(self.headers.get("authorization", ""))
        k = len(_Flaky.calls)
        if k == 1:
            self._send(429, {"error": {"code": "overloaded", "message": "busy"}}, {"Retry-After": "0"})
        elif k == 2:
            self._send(503, {"error": {"code": "unavailable", "message": "down"}})
        else:
            results = [{"id": it.get("id"), "reward": 1.0, "verdict": "correct", "extracted": "1", "details": {}} for it in body["items"]]
            self._send(200, {"results": results, "stats": {"mode": "embedded"}, "groups": {}})

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_client_retries_429_and_503_then_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    _Flaky.calls = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setenv("VERIRL_URL", f"http://127.0.0.1:{srv.server_address[1]}")
    monkeypatch.setenv("VERIRL_API_KEY", "k" * 16)
    try:
        with Client(backoff_s=0.01) as c:
            out = c.score([{"id": "a", "completion": "\\boxed{1}", "answer": "1"}])
    finally:
        srv.shutdown()
    assert out["results"][0]["reward"] == 1.0
    assert len(_Flaky.calls) == 3 and set(_Flaky.calls) == {"Bearer " + "k" * 16}


# --------------------------------------------------------------------------- fork safety

def _score_in_child(url: str, k: int) -> float:
    from verirl.integrations._common import shared_client

    c = shared_client(url)
    return c.score([{"completion": f"\\boxed{{{k}}} #{k}", "answer": str(k)}])["results"][0]["reward"]


def test_client_is_fork_safe_with_os_fork(embedded_server: str) -> None:
    """A pooled client used before a fork keeps working in 12 forked children at once and in the
    parent (verl's and PRIME's process pools fork the trainer with its reward client inside)."""
    import os

    from verirl.integrations._common import shared_client

    c = shared_client(embedded_server)
    assert c.score([{"completion": "\\boxed{1}", "answer": "1"}])["results"][0]["reward"] == 1.0  # a live pooled connection
    parent_pool = c._http
    pids = []
    for k in range(12):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: score through the inherited client, report, exit without cleanup
            os.close(r)
            code = 1
            try:
                ok = all(_score_in_child(embedded_server, k * 10 + j) == 1.0 for j in range(5))
                code = 0 if ok and c._http is not parent_pool else 2
            finally:
                os.write(w, bytes([code]))
                os._exit(0)
        os.close(w)
        pids.append((pid, r))
    codes = []
    for pid, r in pids:
        codes.append(os.read(r, 1)[0])
        os.close(r)
        os.waitpid(pid, 0)
    assert codes == [0] * 12
    assert c._http is parent_pool  # the parent keeps its own pool, and it still works
    assert c.score([{"completion": "\\boxed{2}", "answer": "2"}])["results"][0]["reward"] == 1.0


def _child_scores(c, k: int) -> int | None:
    """Fork; the child scores through ``c`` and reports 0 (ok) or 2 on a pipe. The child's code, or
    None if it sent nothing within a minute (blocked: it is killed)."""
    import os
    import select
    import signal

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 2
        try:
            code = 0 if c.score([{"completion": f"\\boxed{{{k}}}", "answer": str(k)}])["results"][0]["reward"] == 1.0 else 2
        finally:
            os.write(w, bytes([code]))
            os._exit(0)
    os.close(w)
    try:
        if not select.select([r], [], [], 60)[0]:
            os.kill(pid, signal.SIGKILL)
            return None
        return os.read(r, 1)[0]
    finally:
        os.close(r)
        os.waitpid(pid, 0)


def test_client_forked_while_another_thread_makes_its_first_call(embedded_server: str) -> None:
    """The fork lands while another thread holds the client's lock (its first call is building
    the pool): the child gets a lock and a pool of its own and scores; the parent's thread too."""
    import threading

    from verirl import Client

    c = Client(embedded_server)
    in_call, release = threading.Event(), threading.Event()
    result: list[float] = []

    def first_call() -> None:
        with c._pid_lock:  # where the first call of this thread is when the other thread forks
            in_call.set()
            release.wait()
        result.append(c.score([{"completion": "\\boxed{5}", "answer": "5"}])["results"][0]["reward"])

    t = threading.Thread(target=first_call)
    t.start()
    in_call.wait()
    try:
        assert _child_scores(c, 7) == 0
    finally:
        release.set()
        t.join()
    assert result == [1.0]

    # and forks racing real first calls, on fresh clients, many times
    codes = []
    for k in range(20):
        fresh = Client(embedded_server)
        t = threading.Thread(target=fresh.score, args=([{"completion": "\\boxed{1}", "answer": "1"}],))
        t.start()
        codes.append(_child_scores(fresh, k))
        t.join()
    assert codes == [0] * 20


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_client_is_fork_safe_with_multiprocessing(embedded_server: str, method: str) -> None:
    import multiprocessing

    from verirl.integrations._common import shared_client

    shared_client(embedded_server).score([{"completion": "\\boxed{1}", "answer": "1"}])
    with multiprocessing.get_context(method).Pool(4) as pool:
        out = pool.starmap(_score_in_child, [(embedded_server, k) for k in range(24)])
    assert out == [1.0] * 24
