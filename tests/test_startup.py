"""A restarted server answers at once: grading requests sent while its verifier processes
start are accepted and answered correctly, and /readyz says it is warming until they are up.

Real `verirl serve` processes restarted on the same port, with a client that retries a refused
connection as OpenRLHF's remote reward client does (openrlhf/utils/agent.py ``_post_request``)."""

from __future__ import annotations

import json
import threading
import time

import httpx

from tests import procs

ITEMS = [{"id": "a", "completion": "so \\boxed{\\frac{1}{2}}", "answer": "0.5"},
         {"id": "b", "completion": "\\boxed{3}", "answer": "4"}]


def _grade_until_answered(url: str, out: list, stop: threading.Event) -> None:
    """POST one batch, retrying refused connections (the server is not listening yet) until answered."""
    while not stop.is_set():
        try:
            r = httpx.post(url + "/v1/score", json={"items": ITEMS}, timeout=120)
        except httpx.TransportError:
            time.sleep(0.02)
            continue
        out.append(r)
        return


def _readyz_states(url: str, states: list, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            r = httpx.get(url + "/readyz", timeout=5)
        except httpx.TransportError:
            time.sleep(0.02)
            continue
        body = r.json()
        states.append("warming" if body.get("warming") else ("ready" if r.status_code == 200 else "not ready"))
        if r.status_code == 200:
            return
        time.sleep(0.02)


def _start_while_clients_wait(tmp, port: int) -> tuple[procs.Proc, list, list]:
    """Start `verirl serve` on ``port`` with a grading request and a /readyz poller already waiting for it."""
    url = f"http://127.0.0.1:{port}"
    answers: list = []
    states: list = []
    stop = threading.Event()
    threads = [threading.Thread(target=_grade_until_answered, args=(url, answers, stop)),
               threading.Thread(target=_readyz_states, args=(url, states, stop))]
    for t in threads:
        t.start()
    proc = procs.Proc([str(procs.BIN / "verirl"), "serve", "--port", str(port)],
                      procs.clean_env(VERIRL_DATA_DIR=str(tmp / "data"), VERIRL_WORKERS="2"), tmp / f"serve-{len(list(tmp.glob('serve-*')))}.log",
                      cwd=tmp)
    try:
        for t in threads:
            t.join(timeout=180)
    finally:
        stop.set()
    return proc, answers, states


def test_restarted_server_answers_while_warming(tmp_path) -> None:
    port = procs.free_port()
    proc, answers, states = _start_while_clients_wait(tmp_path, port)
    try:
        assert len(answers) == 1 and answers[0].status_code == 200, proc.output()
        proc.stop()  # a restart: the same port, a new process, clients already waiting for it
        proc, answers, states = _start_while_clients_wait(tmp_path, port)
        assert len(answers) == 1, proc.output()
        r = answers[0]
        assert r.status_code == 200, r.text
        assert [(x["id"], x["verdict"]) for x in r.json()["results"]] == [("a", "correct"), ("b", "incorrect")]
        # /readyz: warming first (requests were accepted meanwhile), then ready, never back.
        assert states[0] == "warming" and states[-1] == "ready", states
        assert states == sorted(states, key=lambda s: s == "ready"), states
        # The API accepted requests before its verifier processes were up (the log says so, in order).
        lines = [json.loads(x)["msg"] for x in proc.log_text().splitlines() if x.startswith("{")]
        accepting = next(i for i, m in enumerate(lines) if "accepting requests" in m)
        assert "verifier processes starting" in lines[accepting]
        started = next(i for i, m in enumerate(lines) if "verifier processes started" in m)
        assert accepting < started
    finally:
        proc.stop()
