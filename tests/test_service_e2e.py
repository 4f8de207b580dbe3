"""End to end over real HTTP: a real `verirl serve`, embedded and distributed (real Redis, real workers)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.helpers import math_items, post


def _check_batch(url: str, rows: list[dict], n: int = 1000) -> dict:
    items, expected = math_items(rows, n)
    r = post(url, "/v1/score", {"items": items})
    assert r.status_code == 200, r.text
    body = r.json()
    results = body["results"]
    assert len(results) == n
    assert [x["id"] for x in results] == [it["id"] for it in items]  # order kept
    got = [x["verdict"] == "correct" for x in results]
    wrong = [(items[i]["id"], results[i]) for i in range(n) if got[i] != expected[i]]
    assert not wrong, wrong[:3]
    assert body["stats"]["failures"] == 0
    for res in results:
        assert res["reward"] in (0.0, 1.0)
        if res["verdict"] != "no_answer":
            assert res["details"]["layer"] in {"string", "choice", "text", "numeric", "sympy", "guard", "unparsed"}
    # groups: rollouts of one prompt
    g = body["groups"]["0"]
    assert g["size"] >= 8 and 0.0 <= g["pass_rate"] <= 1.0
    return body


def test_embedded_batch_of_1000(embedded_server, math_cot_rows):
    body = _check_batch(embedded_server, math_cot_rows)
    assert body["stats"]["mode"] == "embedded"


def test_distributed_batch_of_1000(distributed, math_cot_rows):
    body = _check_batch(distributed["url"], math_cot_rows)
    assert body["stats"]["mode"] == "distributed"
    info = httpx.get(distributed["url"] + "/v1/info").json()
    assert info["mode"] == "distributed"
    assert {w["name"] for w in info["workers"]} >= {"w0", "w1"}
    # code runs on the workers: /v1/info reports each worker's sandbox, probed in its verifier processes
    iso = info["isolation"]["workers"]
    assert iso["w0"]["available"] is True and iso["w1"]["available"] is True
    assert set(iso["w0"]["namespaces"]) >= {"user", "pid", "net", "mount"}


@pytest.mark.parametrize("server", ["embedded", "distributed"])
def test_hung_verification_is_a_timeout_and_the_rest_are_graded(server, embedded_server, distributed):
    url = embedded_server if server == "embedded" else distributed["url"]
    items = [
        {"id": "tower", "completion": r"\boxed{(x+1)^{3000}}", "answer": "(x+2)^{3000}", "options": {"timeout_s": 1.5}},
        {"id": "ok", "completion": r"\boxed{\frac{1}{2}}", "answer": "0.5"},
        {"id": "no", "completion": r"\boxed{2}", "answer": "3"},
    ]
    t0 = time.monotonic()
    r = post(url, "/v1/score", {"items": items})
    assert r.status_code == 200
    res = {x["id"]: x for x in r.json()["results"]}
    assert res["tower"]["verdict"] == "timeout"
    assert res["tower"]["reward"] is None  # never a silent 0
    assert res["ok"]["verdict"] == "correct"
    assert res["no"]["verdict"] == "incorrect"
    assert time.monotonic() - t0 < 30
    # the worker is still healthy afterwards
    r = post(url, "/v1/score", {"items": [items[1]]})
    assert r.json()["results"][0]["verdict"] == "correct"


def test_failure_reward_option(embedded_server):
    items = [{"completion": r"\boxed{(x+1)^{3000}}", "answer": "(x+2)^{3000}", "options": {"timeout_s": 1}}]
    r = post(embedded_server, "/v1/score", {"items": items, "options": {"failure_reward": -0.5}})
    res = r.json()["results"][0]
    assert (res["verdict"], res["reward"]) == ("timeout", -0.5)


@pytest.mark.parametrize("server", ["embedded", "distributed"])
def test_async_job_round_trip(server, embedded_server, distributed, math_cot_rows):
    url = embedded_server if server == "embedded" else distributed["url"]
    items, expected = math_items(math_cot_rows, 200)
    r = post(url, "/v1/jobs", {"items": items})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/v1/jobs/{job_id}").json()
        if job["status"] == "done":
            break
        time.sleep(0.2)
    assert job["status"] == "done", job
    verdicts = [x["verdict"] == "correct" for x in job["result"]["results"]]
    assert verdicts == expected
    missing = httpx.get(f"{url}/v1/jobs/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_request_deadline_returns_timeouts(embedded_server):
    slow = [{"id": f"s{i}", "completion": r"\boxed{(x+1)^{3000}}", "answer": "(x+2)^{3000}"} for i in range(6)]
    t0 = time.monotonic()
    r = post(embedded_server, "/v1/score", {"items": slow, "options": {"deadline_s": 2}})
    elapsed = time.monotonic() - t0
    assert r.status_code == 200
    assert {x["verdict"] for x in r.json()["results"]} == {"timeout"}
    assert elapsed < 15


def test_async_job_of_one_bad_item_keeps_its_verdict(embedded_server):
    """As in /v1/score, a lone bad item is its own `error` verdict, not a failed request."""
    r = post(embedded_server, "/v1/jobs", {"items": [{"completion": "x"}]})
    assert r.status_code == 202
    job_id = r.json()["job_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = httpx.get(f"{embedded_server}/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert job["status"] == "done"
    [res] = job["result"]["results"]
    assert res["verdict"] == "error" and res["reward"] is None
    assert res["details"]["error"]["code"] == "invalid_item" and res["details"]["error"]["field"] == "items[0].answer"


def test_concurrent_small_requests_share_rq_jobs(distributed):
    """32 requests of 4 items at once: each gets exactly its own results, and they share RQ jobs."""
    import json
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    tag = uuid.uuid4().hex[:8]

    def one(k: int):
        items = [{"id": f"{tag}-{k}-{j}", "completion": f"\\boxed{{{k + j}}}", "answer": str(k + j if j % 2 else k)} for j in range(4)]
        r = httpx.post(distributed["url"] + "/v1/score", json={"items": items}, headers={"x-request-id": f"{tag}-{k}"}, timeout=60)
        return items, r

    with ThreadPoolExecutor(32) as pool:
        out = list(pool.map(one, range(32)))
    for k, (items, r) in enumerate(out):
        assert r.status_code == 200
        res = r.json()["results"]
        assert [x["id"] for x in res] == [it["id"] for it in items]
        assert [x["verdict"] for x in res] == ["correct" if (j % 2 or k + j == k) else "incorrect" for j in range(4)]
    time.sleep(1.0)
    lines = []
    for w in distributed["workers"]:
        for line in w.log_text().splitlines():
            if tag in line:
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    raise AssertionError(repr(line[:600])) from None
    jobs = {rec["job_id"] for rec in lines if "scored chunk" in rec["msg"]}
    rids = {rec["request_id"] for rec in lines if "scored chunk" in rec["msg"]}
    assert len(rids) == 32, [r["msg"] + " " + str(r.get("request_id")) for r in lines][:12]  # every request's id reached a worker ...
    assert len(jobs) < 32  # ... in fewer RQ jobs than requests
