"""A worker SIGKILLed in the middle of a batch: the request completes and no item is lost; an API
SIGKILLed with async jobs open; sandbox slots under a long run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def _wait_job(url: str, job_id: str, timeout: float = 120) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=10)
        if r.status_code == 200 and r.json()["status"] in ("done", "failed"):
            return r.json()
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} not done after {timeout}s")


def test_api_sigkilled_async_job_survives_embedded(tmp_path):
    server, url = procs.start_server(tmp_path, workers=2)
    items = _sympy_items(200)
    try:
        r = httpx.post(url + "/v1/jobs", json={"items": items}, timeout=30)
        assert r.status_code == 202
        job_id = r.json()["job_id"]
        server.kill()  # SIGKILL right after the job was accepted
        server.p.wait(10)
        server, url = procs.start_server(tmp_path, workers=2)  # same data dir
        job = _wait_job(url, job_id)
        assert job["status"] == "done"
        res = job["result"]["results"]
        assert [x["id"] for x in res] == [it["id"] for it in items]
        assert {x["verdict"] for x in res} == {"correct"}
    finally:
        server.stop()


def test_api_sigkilled_async_job_taken_over_by_another_replica(tmp_path, clean_redis):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, url_a = procs.start_server(tmp_path / "a", redis_url=clean_redis, VERIRL_JOB_LEASE_S="3")
    b, url_b = procs.start_server(tmp_path / "b", redis_url=clean_redis, VERIRL_JOB_LEASE_S="3")
    worker = procs.start_worker(tmp_path, clean_redis, 1, name="jw")
    items = _sympy_items(150)
    try:
        procs.wait_http(url_a + "/readyz", a, timeout=90)
        r = httpx.post(url_a + "/v1/jobs", json={"items": items}, timeout=30)
        job_id = r.json()["job_id"]
        time.sleep(0.3)
        a.kill()  # the replica running the job dies; B takes it over when A's lease lapses
        job = _wait_job(url_b, job_id, timeout=150)
        assert job["status"] == "done"
        assert [x["verdict"] for x in job["result"]["results"]] == ["correct"] * len(items)
    finally:
        worker.stop()
        b.stop()
        a.stop()


_SLOTS_SCRIPT = r"""
import fcntl, json, os, threading, time
from sandbox import Limits, Sandbox
from sandbox.client import SLOT_DIR

# Four sandboxes (four zygotes, like four verifier processes) share two slots by flock.
long_sb, shorts = Sandbox(slots=2), [Sandbox(slots=2) for _ in range(3)]
order, lock = [], threading.Lock()

def held():
    for i in range(2):
        fd = os.open(SLOT_DIR / f"{i}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
    return False

def long_run():
    r = long_sb.run_python("import time; time.sleep(6)", limits=Limits(cpu_time_s=2, wall_time_s=60))
    with lock:
        order.append(["long", r.status])

def short_runs(sb):
    for _ in range(4):
        r = sb.run_python("print(1)", limits=Limits(cpu_time_s=2, wall_time_s=60))
        with lock:
            order.append(["short", r.status])

t = threading.Thread(target=long_run)
t.start()
while not held():
    time.sleep(0.01)
ts = [threading.Thread(target=short_runs, args=(sb,)) for sb in shorts]
for x in ts:
    x.start()
for x in ts + [t]:
    x.join()
print(json.dumps(order))
"""


def test_sandbox_waiters_take_the_first_slot_that_frees(tmp_path):
    """One long run holds one of two slots; three verifiers each make four short runs.
    Every short run goes through the other slot as it frees: none waits behind the long
    one (before the fix a waiter blocked on a random busy slot, often the long run's)."""
    slots = tmp_path / "tmp"
    slots.mkdir()
    os.chmod(slots, 0o755)
    env = procs.clean_env(TMPDIR=str(slots))  # slot locks of our own, not the machine's
    out = subprocess.run([sys.executable, "-c", _SLOTS_SCRIPT], env=env, cwd=procs.REPO, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    order = json.loads(out.stdout.strip().splitlines()[-1])
    assert order.count(["short", "ok"]) == 12, order
    assert order[-1] == ["long", "ok"], order  # all twelve short runs finished while the long one ran
