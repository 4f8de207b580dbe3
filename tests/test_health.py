"""/healthz and /v1/info against a real embedded server whose sandbox slots are all busy.

The event loop never waits for the sandbox: the isolation self-check runs in a
verifier process at start-up and /v1/info awaits its cached result, so /healthz
answers while every slot holds a long-running program (issue 12, finding 11:
the first /v1/info used to run the check inside the event loop and wait for a
free slot, and /healthz took 24.8 s). No timing is asserted beyond a generous
client timeout that a request stuck behind a 20 s program cannot meet.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest

from sandbox.client import SLOT_DIR, SLOT_UID_BASE
from tests import procs

SLEEP_S = 20
MAX_SLEEPERS = 4  # on a bigger machine the test itself holds the other slots' locks
CLIENT_TIMEOUT_S = 5.0  # far below SLEEP_S: an answer within it was not queued behind a sleeper


def _slots() -> int:
    return os.cpu_count() or 1  # the sandbox's slot count (sandbox.client._Slots)


def _slots_held_by(server_pid: int) -> set[int]:
    """Slot uids of programs now running under this server (each holds its slot's lock while it runs)."""
    uids = set()
    for p in psutil.Process(server_pid).children(recursive=True):
        try:
            uid = p.uids().real
        except psutil.Error:
            continue
        if SLOT_UID_BASE <= uid < SLOT_UID_BASE + _slots():
            uids.add(uid)
    return uids


def _hold_slot_locks(n: int) -> list[int]:
    """Take ``n`` slot locks in this process (as another verifier's runs would); the fds to release."""
    held: list[int] = []
    deadline = time.monotonic() + 60
    while len(held) < n:
        assert time.monotonic() < deadline, "could not take the extra slot locks"
        for i in range(_slots()):
            fd = os.open(SLOT_DIR / f"{i}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            held.append(fd)
            if len(held) == n:
                break
        time.sleep(0.1)
    return held


@pytest.fixture
def busy_server(tmp_path):
    """A fresh embedded server (no /v1/info asked yet) with every sandbox slot busy: its
    verifiers each run a sleeper (and on a machine with more slots, this test holds the rest)."""
    workers = min(_slots(), MAX_SLEEPERS)
    held = _hold_slot_locks(_slots() - workers)
    try:
        proc, url = procs.start_server(tmp_path, workers=workers)
    except BaseException:
        for fd in held:
            os.close(fd)
        raise
    sleeper = {
        "task": "code",
        "completion": f"```python\nimport time\ntime.sleep({SLEEP_S})\nprint(1)\n```",
        "tests": {"format": "stdio", "cases": [{"input": "", "output": "1"}]},
        "options": {"time_limit_s": SLEEP_S},  # wall deadline 3x: the sleeper finishes, holding its slot
    }
    pool = ThreadPoolExecutor(workers)
    futs = [pool.submit(httpx.post, url + "/v1/score", json={"items": [sleeper]}, timeout=180) for _ in range(workers)]
    try:
        deadline = time.monotonic() + 60
        while len(_slots_held_by(proc.pid)) < workers:
            assert time.monotonic() < deadline, f"the sleepers never held every slot:\n{proc.output()}"
            time.sleep(0.2)
        yield url, proc.pid, futs
    finally:
        for f in futs:
            f.result()
        pool.shutdown()
        proc.stop()
        for fd in held:
            os.close(fd)


def test_healthz_and_info_answer_while_every_slot_is_busy(busy_server):
    url, server_pid, sleepers = busy_server
    info: dict = {}

    def get_info() -> None:  # the server's first /v1/info, sent while every slot is busy
        info["response"] = httpx.get(url + "/v1/info", timeout=120)

    t = threading.Thread(target=get_info)
    t.start()
    time.sleep(0.5)  # let /v1/info reach the server first
    for _ in range(3):
        r = httpx.get(url + "/healthz", timeout=CLIENT_TIMEOUT_S)
        assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert len(_slots_held_by(server_pid)) == min(_slots(), MAX_SLEEPERS), "a sleeper ended early: the check above did not run with every slot busy"
    assert not any(f.done() for f in sleepers)
    r = httpx.get(url + "/v1/info", timeout=CLIENT_TIMEOUT_S)
    assert r.status_code == 200, r.text
    t.join(timeout=120)
    first = info["response"]
    assert first.status_code == 200, first.text
    for body in (first.json(), r.json()):
        assert body["isolation"]["available"] is True, body["isolation"]
        assert set(body["isolation"]["namespaces"]) >= {"user", "pid", "net", "mount"}
    for f in sleepers:
        res = f.result().json()["results"][0]
        assert (res["verdict"], res["details"]["code_verdict"]) == ("correct", "accepted"), res
