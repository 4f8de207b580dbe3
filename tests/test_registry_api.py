"""The problem registry over HTTP, in both modes (SQLite embedded; Redis with real workers)."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests import procs
from tests.helpers import post

BASE = "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins with four. She sells the remainder at $2 per egg. How much does she make every day?"


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def server(request, tmp_path_factory):
    if request.param == "embedded":
        tmp = tmp_path_factory.mktemp("reg-embedded")
        proc, url = procs.start_server(tmp, workers=2)
        state = {"mode": "embedded", "url": url, "tmp": tmp, "proc": proc}
        yield state
        state["proc"].stop()  # a test may have restarted it
    else:
        d = request.getfixturevalue("distributed")
        yield {"mode": "distributed", "url": d["url"], "tmp": d["tmp"], "redis_url": d["redis_url"], "proc": d["server"]}


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def test_register_exact_near_cluster_and_idempotent(server) -> None:
    u = _uid()
    probs = [
        {"id": f"{u}-a", "text": BASE, "answer": "18", "source": f"gsm-{u}"},
        {"id": f"{u}-b", "text": BASE.replace("$2", "$3"), "answer": "27", "source": f"gsm-{u}"},  # one number changed
        {"id": f"{u}-c", "text": "  " + BASE.replace(" ", "  ") + "\n", "answer": "18"},  # re-spaced copy
        {"id": f"{u}-d", "text": f"A completely different problem {u}: what is the sum of the first 100 primes?", "answer": "24133"},
    ]
    r = post(server["url"], "/v1/problems", {"problems": probs})
    assert r.status_code == 200, r.text
    a, b, c, d = r.json()["problems"]
    assert a["duplicate_of"] is None and a["near_duplicates"] == [] and a["cluster_id"] == f"{u}-a"
    assert b["duplicate_of"] is None and b["near_duplicates"][0]["id"] == f"{u}-a"
    assert b["near_duplicates"][0]["similarity"] >= 0.8 and b["cluster_id"] == f"{u}-a"
    assert c["duplicate_of"] == f"{u}-a" and c["cluster_id"] == f"{u}-a"
    assert d["duplicate_of"] is None and d["near_duplicates"] == [] and d["cluster_id"] == f"{u}-d"
    assert all(p["created"] for p in (a, b, c, d)) and all(p["contamination"] == [] for p in (a, b, c, d))
    # Registering again is idempotent: same ids, same metadata, nothing created.
    again = post(server["url"], "/v1/problems", {"problems": probs[:2]}).json()["problems"]
    assert [p["created"] for p in again] == [False, False]
    assert again[1]["near_duplicates"] == b["near_duplicates"]
    # Without an id, the id is derived from the text: stable across calls.
    p1 = post(server["url"], "/v1/problems", {"problems": [{"text": f"What is {u} + 1?", "answer": "x"}]}).json()["problems"][0]
    p2 = post(server["url"], "/v1/problems", {"problems": [{"text": f"What is {u} + 1?", "answer": "x"}]}).json()["problems"][0]
    assert p1["id"] == p2["id"] and p1["created"] and not p2["created"]
    got = httpx.get(f"{server['url']}/v1/problems/{u}-b").json()
    assert got["answer"] == "27" and got["source"] == f"gsm-{u}" and got["stats"]["attempts"] == 0


def test_bad_problem_never_fails_the_batch(server) -> None:
    u = _uid()
    r = post(server["url"], "/v1/problems", {"problems": [{"id": f"{u}-ok", "text": "Compute 1+1 for " + u}, {"text": ""}, {"text": "x", "tests": {"format": "nope"}}, 7]})
    assert r.status_code == 200
    ok, empty, tests, seven = r.json()["problems"]
    assert ok["id"] == f"{u}-ok" and ok["created"]
    assert empty["error"]["field"] == "problems[1].text"
    assert tests["error"]["field"] == "problems[2].tests.format"
    assert seven["error"]["field"] == "problems[3]"
    r = post(server["url"], "/v1/problems", {"problems": [{"text": ""}]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "problems[0].text"
    assert httpx.get(f"{server['url']}/v1/problems/nope-{u}").status_code == 404


def test_benchmark_registration_rechecks_and_is_frozen(server) -> None:
    u = _uid()
    text = f"Let {u} be a string of letters. Find the number of ordered triples of positive integers whose product is 2024 and whose sum is odd."
    r = post(server["url"], "/v1/problems", {"problems": [{"id": f"{u}-p", "text": text.replace("2024", "2025")}]})
    assert r.json()["problems"][0]["contamination"] == []
    bench = {"name": f"bench-{u}", "items": [{"id": "q1", "text": text}, {"id": 2, "text": "Another item entirely, about circles."}]}
    r = post(server["url"], "/v1/benchmarks", bench)
    assert r.status_code == 200, r.text
    assert r.json()["created"] and r.json()["newly_contaminated"] >= 1 and r.json()["hash"].startswith("sha256:")
    flags = httpx.get(f"{server['url']}/v1/problems/{u}-p").json()["contamination"]
    assert {f["rule"] for f in flags} >= {"stripped"} and all(f["benchmark"] == f"bench-{u}" and f["item"] == "q1" for f in flags)
    # Same content again: fine. Changed content under the same name: refused.
    assert post(server["url"], "/v1/benchmarks", bench).json()["created"] is False
    bench["items"][1]["text"] = "changed"
    r = post(server["url"], "/v1/benchmarks", bench)
    assert r.status_code == 422 and r.json()["error"]["field"] == "name"
    # A problem registered afterwards is checked at registration.
    r = post(server["url"], "/v1/problems", {"problems": [{"id": f"{u}-late", "text": text}]})
    assert r.json()["problems"][0]["contamination"][0]["item"] == "q1"
    listed = httpx.get(f"{server['url']}/v1/benchmarks").json()["benchmarks"]
    assert f"bench-{u}" in {b["name"] for b in listed}


def test_difficulty_counters_exact_under_concurrency(server) -> None:
    """50 concurrent scoring requests for the same problems give the exact totals."""
    u = _uid()
    post(server["url"], "/v1/problems", {"problems": [
        {"id": f"{u}-x", "text": f"x problem {u}: compute 6*7", "answer": "42", "source": u},
        {"id": f"{u}-y", "text": f"y problem {u}: compute 2^10", "answer": "1024", "source": u},
    ]})
    items = [
        {"problem_id": f"{u}-x", "completion": "\\boxed{42}"},
        {"problem_id": f"{u}-x", "completion": "\\boxed{42}", "policy": "m1"},
        {"problem_id": f"{u}-x", "completion": "\\boxed{41}"},
        {"problem_id": f"{u}-x", "completion": "\\boxed{40}", "policy": "m1"},
        {"problem_id": f"{u}-y", "completion": "\\boxed{1024}"},
        {"problem_id": f"{u}-y", "completion": "\\boxed{1000}"},
        {"problem_id": f"{u}-y", "completion": "no answer at all"},
        {"problem_id": f"{u}-y", "completion": "\\boxed{2}", "options": {"timeout_s": 1e-9}},  # a timeout: not an attempt
    ]
    with ThreadPoolExecutor(50) as pool:
        rs = list(pool.map(lambda _: post(server["url"], "/v1/score", {"items": items}), range(50)))
    assert all(r.status_code == 200 for r in rs)
    assert rs[0].json()["results"][0]["difficulty"]["attempts"] >= 2
    x = httpx.get(f"{server['url']}/v1/problems/{u}-x").json()
    y = httpx.get(f"{server['url']}/v1/problems/{u}-y").json()
    assert (x["stats"]["attempts"], x["stats"]["correct"], x["stats"]["timeouts"]) == (200, 100, 0)
    assert (x["stats_by_policy"]["m1"]["attempts"], x["stats_by_policy"]["m1"]["correct"]) == (100, 50)
    assert (y["stats"]["attempts"], y["stats"]["correct"], y["stats"]["timeouts"]) == (150, 50, 50)
    assert x["stats"]["bucket"] == "medium" and x["stats"]["pass_rate"] == 0.5
    assert y["stats"]["wilson_low"] < 1 / 3 < y["stats"]["wilson_high"]
    assert 0 <= x["stats"]["recent_pass_rate"] <= 1
    # Curriculum sampling: filter by difficulty and source, page with the cursor.
    page = httpx.get(f"{server['url']}/v1/problems", params={"source": u, "difficulty_min": 0.55, "min_attempts": 10}).json()
    assert [p["id"] for p in page["problems"]] == [f"{u}-y"]
    first = httpx.get(f"{server['url']}/v1/problems", params={"source": u, "limit": 1}).json()
    second = httpx.get(f"{server['url']}/v1/problems", params={"source": u, "limit": 1, "cursor": first["next_cursor"]}).json()
    assert [p["id"] for p in first["problems"] + second["problems"]] == [f"{u}-x", f"{u}-y"]
    assert httpx.get(f"{server['url']}/v1/problems", params={"bucket": "medium", "source": u}).json()["problems"][0]["id"] == f"{u}-x"


def test_score_by_problem_id_code_and_unknown(server) -> None:
    u = _uid()
    tests = {"format": "stdio", "cases": [{"input": "2 3\n", "output": "5\n"}]}
    post(server["url"], "/v1/problems", {"problems": [{"id": f"{u}-add", "text": f"Add two numbers ({u}).", "tests": tests}]})
    r = post(server["url"], "/v1/score", {"items": [
        {"id": "ok", "problem_id": f"{u}-add", "completion": "```python\na,b=map(int,input().split())\nprint(a+b)\n```"},
        {"id": "missing", "problem_id": f"nope-{u}", "completion": "x"},
    ]})
    ok, missing = r.json()["results"]
    assert ok["verdict"] == "correct" and ok["difficulty"]["attempts"] == 1
    assert missing["verdict"] == "error" and missing["details"]["error"]["field"] == "items[1].problem_id"


def test_registry_survives_an_api_restart(server, tmp_path) -> None:
    u = _uid()
    post(server["url"], "/v1/problems", {"problems": [{"id": f"{u}-keep", "text": f"Persist me {u}", "answer": "1"}]})
    post(server["url"], "/v1/score", {"items": [{"problem_id": f"{u}-keep", "completion": "\\boxed{1}"}]})
    if server["mode"] == "embedded":
        server["proc"].stop()
        proc, url = procs.start_server(server["tmp"], workers=2)
        server["proc"], server["url"] = proc, url
    else:  # another API replica on the same Redis sees the same registry
        proc, url = procs.start_server(tmp_path, redis_url=server["redis_url"])
    try:
        got = httpx.get(f"{url}/v1/problems/{u}-keep").json()
        assert got["answer"] == "1" and got["stats"]["attempts"] == 1 and got["stats"]["correct"] == 1
        dup = post(url, "/v1/problems", {"problems": [{"text": f"Persist  me {u}"}]}).json()["problems"][0]
        assert dup["duplicate_of"] == f"{u}-keep"
    finally:
        if server["mode"] == "distributed":
            proc.stop()


def test_filter_job_over_http(embedded_server) -> None:
    """A dataset uploaded as JSONL, filtered as an async job (the same code as `verirl filter`)."""
    server = {"url": embedded_server}
    u = _uid()
    post(server["url"], "/v1/benchmarks", {"name": f"fb-{u}", "items": [{"id": "z", "text": f"The benchmark problem {u} asks for the number of lattice points inside a circle of radius ten."}]})
    rows = [
        {"id": "1", "problem": "What is 2+2?", "answer": "4", "completion": "\\boxed{4}"},
        {"id": "2", "problem": "What is  2+2?", "answer": "4", "completion": "\\boxed{5}"},
        {"id": "3", "problem": f"The benchmark problem {u} asks for the number of lattice points inside a circle of radius ten.", "answer": "317", "completion": "\\boxed{317}"},
    ]
    body = "\n".join(json.dumps(r) for r in rows).encode()
    r = httpx.post(f"{server['url']}/v1/filter", params={"dedup": True, "verify": True, "decontaminate": [f"fb-{u}"]}, content=body, timeout=60)
    assert r.status_code == 202, r.text
    job = r.json()["job_id"]
    for _ in range(300):
        st = httpx.get(f"{server['url']}/v1/filter/{job}").json()
        if st["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert st["status"] == "done", st
    assert st["summary"]["flags"] == {"duplicate": 1, "contaminated": 1, "not_verified:incorrect": 1}
    assert st["summary"]["reasons"] == {} and st["summary"]["dropped"] == 0  # flagged, not dropped
    assert st["progress"] == {"rows_done": 3, "rows_total": 3}
    out = [json.loads(line) for line in httpx.get(f"{server['url']}/v1/filter/{job}/result").text.splitlines()]
    assert [o["duplicate_of"] for o in out] == [None, "1", None]
    assert [o["verdict"] for o in out] == ["correct", "incorrect", "correct"]
    assert [o["contaminated"] for o in out] == [False, False, True]
    assert out[0]["contamination"] == [] and {(f["benchmark"], f["item"]) for f in out[2]["contamination"]} == {(f"fb-{u}", "z")}
    # The same report `verirl filter` writes, linked from the status (issue 23 item 4).
    assert st["summary"]["report"] == f"/v1/filter/{job}/report"
    page = httpx.get(server["url"] + st["summary"]["report"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h2>Contamination per benchmark</h2>" in page.text and f"fb-{u}" in page.text
    assert httpx.get(server["url"] + st["summary"]["removed"]).text == ""  # nothing dropped
    assert httpx.get(f"{server['url']}/v1/filter/nosuchjob/report").status_code == 404
    bad = httpx.post(f"{server['url']}/v1/filter", params={"dedup": True}, content=b"not json\n")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "body"


def test_filter_job_status_shows_progress(embedded_server) -> None:
    """GET /v1/filter/{id} reports rows done of the total while the job runs, then all of them."""
    u = _uid()
    body = "\n".join(json.dumps({"id": str(i), "problem": f"Problem {u} number {i}: find x if x + {i} = {2 * i}."})
                     for i in range(6000)).encode()
    r = httpx.post(f"{embedded_server}/v1/filter", params={"dedup": True}, content=body, timeout=60)
    assert r.status_code == 202, r.text
    job = r.json()["job_id"]
    seen = []
    for _ in range(1200):
        st = httpx.get(f"{embedded_server}/v1/filter/{job}").json()
        seen.append(st["progress"]["rows_done"])
        assert st["progress"]["rows_total"] == 6000
        if st["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert st["status"] == "done", st
    assert seen == sorted(seen) and seen[-1] == 6000
    assert any(0 < x < 6000 for x in seen), seen  # 20 shards of 300 rows: some status was read in between


def test_aime_copies_flagged_through_the_registry(server, benchmarks_dir) -> None:
    """The acceptance case over HTTP: a 5,000-problem registration with planted AIME 2024 copies."""
    import random
    import re

    u = _uid()
    aime = [json.loads(x) for x in (benchmarks_dir / "aime24.jsonl").read_text().splitlines()]
    gsm = [json.loads(x)["question"] for x in (benchmarks_dir / "gsm8k.jsonl").read_text().splitlines()]
    r = post(server["url"], "/v1/benchmarks", {"name": f"aime24-{u}", "items": [{"id": a["id"], "text": a["problem"]} for a in aime]})
    assert r.status_code == 200, r.text
    rng = random.Random(1)

    def bump(t: str) -> str:
        nums = list(re.finditer(r"\d+", t))
        if not nums:  # a problem without a number: change a word instead
            return t.replace(" the ", " a ", 1)
        m = rng.choice(nums)
        return t[: m.start()] + str(int(m.group()) + 1) + t[m.end():]

    planted = [(str(a["id"]), a["problem"]) for a in aime] + [(str(a["id"]), bump(a["problem"])) for a in aime]
    filler = [f"{t} ({u}-{k})" for k, t in enumerate((gsm * 4)[: 5000 - len(planted)])]
    problems = [{"text": t, "meta": {"plant": None}} for t in filler] + [{"text": t, "meta": {"plant": i}} for i, t in planted]
    rng.shuffle(problems)
    r = post(server["url"], "/v1/problems", {"problems": problems}, timeout=600)
    assert r.status_code == 200
    out = r.json()["problems"]
    flagged_plants = sum(1 for p, o in zip(problems, out, strict=True) if p["meta"]["plant"] is not None
                         and p["meta"]["plant"] in {f["item"] for f in o["contamination"] if f["benchmark"] == f"aime24-{u}"})
    false = sum(1 for p, o in zip(problems, out, strict=True) if p["meta"]["plant"] is None and o["contamination"])
    print(f"\n[{server['mode']}] AIME copies flagged {flagged_plants}/{len(planted)}; GSM8K-style problems flagged {false}/{len(filler)}")
    assert flagged_plants == len(planted)
    assert false / len(filler) < 0.01


def test_filter_keep_is_never_python(embedded_server, tmp_path) -> None:
    """The RCE of v0.1: `keep=` reached eval(). Every escape is a 422 naming `keep`, nothing runs."""
    from tests.verirl.test_keep_expr import ESCAPES

    canary = tmp_path / "pwned"
    body = b'{"id": "1", "problem": "p", "verified": true}\n'
    attacks = [e for e in ESCAPES if e.strip()] + [
        f"().__class__.__base__.__subclasses__()[0].__init__.__globals__['os'].system('touch {canary}')",
        f"__import__('os').system('touch {canary}') or True",
    ]
    for expr in attacks:
        r = httpx.post(f"{embedded_server}/v1/filter", params={"keep": expr}, content=body, timeout=30)
        assert r.status_code == 422, (expr[:80], r.status_code, r.text[:200])
        assert r.json()["error"]["field"] == "query.keep", r.text[:300]
    assert not canary.exists()
    # The language itself works over HTTP, and the job's status names no server path.
    rows = [{"id": "1", "problem": "a", "score": 0.5}, {"id": "2", "problem": "b", "score": 0.9}]
    r = httpx.post(f"{embedded_server}/v1/filter", params={"keep": "score < 0.8"},
                   content="\n".join(json.dumps(x) for x in rows).encode(), timeout=30)
    assert r.status_code == 202, r.text
    job = r.json()["job_id"]
    for _ in range(300):
        st = httpx.get(f"{embedded_server}/v1/filter/{job}").json()
        if st["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert st["status"] == "done", st
    assert st["summary"]["kept"] == 1 and st["summary"]["dropped"] == 1
    assert "/tmp" not in json.dumps(st) and "/work" not in json.dumps(st) and "/data" not in json.dumps(st).replace("/v1/", "")
    out = [json.loads(line) for line in httpx.get(f"{embedded_server}/v1/filter/{job}/result").text.splitlines()]
    assert [o["id"] for o in out] == ["1"]


def test_hostile_problem_ids_over_http_and_statistics_never_fail_a_grade(server) -> None:
    """The ids that broke the old Redis layout (`x|` then `pols:x`, `hash:<h>`, `order`, `seq`)
    register, grade and count like any other, in both modes; and a statistics write that fails
    (a key of the wrong type, planted in the real Redis) leaves the grades standing."""
    u = _uid()
    ids = [f"{u}x|", f"pols:{u}x", "order", "seq", f"hash:{u}"]
    probs = [{"id": pid, "text": f"Hostile id problem {u} number {k}: what is {k} + {k}?", "answer": str(2 * k)}
             for k, pid in enumerate(ids)]
    r = post(server["url"], "/v1/problems", {"problems": probs})
    assert r.status_code == 200, r.text
    items = [{"id": str(k), "problem_id": pid, "completion": f"\\boxed{{{2 * k}}}", "policy": "x|"}
             for k, pid in enumerate(ids)]
    for _ in range(2):
        r = post(server["url"], "/v1/score", {"items": items})
        assert r.status_code == 200, r.text
        assert [x["verdict"] for x in r.json()["results"]] == ["correct"] * len(ids)
    for pid in ids:
        got = httpx.get(f"{server['url']}/v1/problems/{pid}")
        assert got.status_code == 200 and got.json()["stats"]["attempts"] == 2, (pid, got.text)
    if server["mode"] == "distributed":
        import redis

        from service.registry.redis_store import pols_key

        r_ = redis.Redis.from_url(server["redis_url"])
        r_.set(pols_key(ids[0]), "not a set")  # every statistics write for this problem now fails
        try:
            r = post(server["url"], "/v1/score", {"items": items[:2]})
            assert r.status_code == 200, r.text
            assert [x["verdict"] for x in r.json()["results"]] == ["correct", "correct"]
            assert r.json()["results"][0]["difficulty"] is None
        finally:
            r_.delete(pols_key(ids[0]))
