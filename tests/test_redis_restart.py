"""Redis restarted (AOF on) under a running deployment: nothing registered or counted is lost,
in-flight requests end cleanly, and the service recovers without being restarted."""

from __future__ import annotations

import threading
import time

import httpx

from tests import procs
from tests.helpers import post
from tests.test_faults import _sympy_items


def test_redis_restart_with_aof(tmp_path) -> None:
    port = procs.free_port()
    redis, rurl = procs.start_redis(tmp_path, appendonly=True, port=port)
    server, url = procs.start_server(tmp_path, redis_url=rurl, VERIRL_CHUNK_SIZE="8")
    worker = procs.start_worker(tmp_path, rurl, 1, name="rr")
    try:
        procs.wait_http(url + "/readyz", server, timeout=90)
        post(url, "/v1/problems", {"problems": [{"id": "keep", "text": "Redis restart problem: 3 + 4?", "answer": "7"}]})
        r = post(url, "/v1/score", {"items": [{"problem_id": "keep", "completion": "\\boxed{7}"}, {"problem_id": "keep", "completion": "\\boxed{8}"}]})
        assert r.status_code == 200
        box: dict = {}

        def call() -> None:
            try:
                box["resp"] = httpx.post(url + "/v1/score", json={"items": _sympy_items(300), "options": {"deadline_s": 60}}, timeout=120)
            except Exception as exc:  # a dropped connection would be a failure of the test below
                box["exc"] = exc

        t = threading.Thread(target=call)
        t.start()
        time.sleep(1.0)
        assert t.is_alive()
        redis.stop()  # SIGTERM: Redis writes its AOF and exits
        time.sleep(1.0)
        redis, _ = procs.start_redis(tmp_path, appendonly=True, port=port)
        t.join(150)
        assert not t.is_alive(), "the in-flight request hung"
        assert "exc" not in box, box.get("exc")
        resp = box["resp"]
        # Ends cleanly: graded (every item accounted for, undecided ones marked) or a clean error answer.
        if resp.status_code == 200:
            res = resp.json()["results"]
            assert len(res) == 300 and {x["verdict"] for x in res} <= {"correct", "timeout", "error"}
        else:
            assert resp.status_code == 503 and resp.json()["error"]["code"] == "unavailable"
        # Registered problems and counters survived.
        got = httpx.get(f"{url}/v1/problems/keep").json()
        assert got["stats"]["attempts"] == 2 and got["stats"]["correct"] == 1
        # The service recovers on its own: same API, same worker processes.
        procs.wait_http(url + "/readyz", server, timeout=60)
        r = post(url, "/v1/score", {"items": [{"problem_id": "keep", "completion": "\\boxed{7}"}]}, timeout=60)
        assert r.status_code == 200 and r.json()["results"][0]["verdict"] == "correct"
        assert r.json()["results"][0]["difficulty"]["attempts"] == 3
        assert worker.alive() and server.alive()
    finally:
        worker.stop()
        server.stop()
        redis.stop()
