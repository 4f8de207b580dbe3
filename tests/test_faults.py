"""A worker SIGKILLed in the middle of a batch: the request completes and no item is lost."""

from __future__ import annotations

import threading
import time

import httpx

from tests import procs


def _sympy_items(n: int) -> list[dict]:
    # Distinct polynomial identities: each needs the sympy layer (a few ms), none is cached.
    return [
        {"id": f"p{k}", "completion": rf"\boxed{{(x+{k})^2}}", "answer": f"x^2+{2 * k}x+{k * k}"}
        for k in range(1, n + 1)
    ]


def test_worker_sigkill_mid_batch(tmp_path, clean_redis):
    server, url = procs.start_server(tmp_path, redis_url=clean_redis, VERIRL_CHUNK_SIZE="8")
    workers = [procs.start_worker(tmp_path, clean_redis, 1, name=f"k{i}") for i in range(2)]
    try:
        procs.wait_http(url + "/readyz", server, timeout=90)
        items = _sympy_items(400)
        box: dict = {}

        def call() -> None:
            box["resp"] = httpx.post(url + "/v1/score", json={"items": items}, timeout=300)

        t = threading.Thread(target=call)
        t.start()
        time.sleep(1.5)
        assert t.is_alive(), "batch finished before the kill; make it larger"
        workers[0].kill()  # SIGKILL, mid-job
        t.join(300)
        resp = box["resp"]
        assert resp.status_code == 200
        results = resp.json()["results"]
        assert [r["id"] for r in results] == [it["id"] for it in items]
        verdicts = {r["verdict"] for r in results}
        assert verdicts <= {"correct", "error"}  # re-run (correct) or marked error, never missing
        assert sum(r["verdict"] == "correct" for r in results) >= 390  # the lost chunk was re-run elsewhere
        # the killed worker's verifier processes are gone with it
        time.sleep(0.5)
        assert not workers[0].alive()
    finally:
        for w in workers:
            w.stop()
        server.stop()
