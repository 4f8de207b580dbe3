"""Bad input gets a clear 4xx in the one error shape, naming the field; one bad item never fails its batch."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests import procs

GOOD = {"completion": r"\boxed{2}", "answer": "2"}


def _err(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    assert "Traceback" not in r.text
    return body["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "items"),
        ({"items": []}, "items"),
        ({"items": "x"}, "items"),
        ({"items": [GOOD], "options": {"timeout_s": -1}}, "options.timeout_s"),
        ({"items": [GOOD], "options": {"bogus": 1}}, "options.bogus"),
        ({"items": [GOOD], "extra": 1}, "extra"),
        ({"items": [GOOD], "options": {"reward": {"nope": {}}}}, "options.reward.nope"),
    ],
)
def test_bad_request_names_the_field(embedded_server, body, field):
    err = _err(httpx.post(embedded_server + "/v1/score", json=body), 422)
    assert err["field"] == field, err


@pytest.mark.parametrize(
    "item,field,message",
    [
        ({"answer": "2"}, "items[0].completion", "Field required"),
        ({"completion": 5, "answer": "2"}, "items[0].completion", "Input should be a valid string"),
        ({"completion": "x", "answer": "2", "task": "poetry"}, "items[0].task", "Input should be"),
        ({"completion": "x"}, "items[0].answer", "answer"),
    ],
)
def test_a_lone_bad_item_is_a_verdict_as_it_is_next_to_a_good_one(embedded_server, item, field, message):
    """OpenRLHF and slime send one item per request: it gets the per-item `error` verdict a
    batch would give it, never a whole-request 422."""
    alone = httpx.post(embedded_server + "/v1/score", json={"items": [item]})
    assert alone.status_code == 200, alone.text
    [res] = alone.json()["results"]
    assert res["verdict"] == "error" and res["reward"] is None
    err = res["details"]["error"]
    assert err["code"] == "invalid_item" and err["field"] == field and message in err["message"], err
    beside = httpx.post(embedded_server + "/v1/score", json={"items": [item, GOOD]})
    assert beside.status_code == 200
    assert beside.json()["results"][0]["details"]["error"] == err
    assert beside.json()["results"][1]["verdict"] == "correct"


def test_not_json_and_not_utf8(embedded_server):
    h = {"content-type": "application/json"}
    err = _err(httpx.post(embedded_server + "/v1/score", content=b"{not json", headers=h), 400)
    assert err["field"] == "body"
    err = _err(httpx.post(embedded_server + "/v1/score", content=b'{"items": ["\xff\xfe"]}', headers=h), 400)
    assert err["field"] == "body"


def test_oversize_body(embedded_server):
    big = {"items": [{"completion": "x" * (65 * 1024 * 1024), "answer": "1"}]}
    err = _err(httpx.post(embedded_server + "/v1/score", json=big, timeout=60), 413)
    assert err["code"] == "payload_too_large"


def test_too_many_items(tmp_path):
    proc, url = procs.start_server(tmp_path, workers=1, VERIRL_MAX_ITEMS="5")
    try:
        err = _err(httpx.post(url + "/v1/score", json={"items": [GOOD] * 6}), 422)
        assert err["field"] == "items"
    finally:
        proc.stop()


def test_one_bad_item_never_fails_the_batch(embedded_server):
    items = [GOOD, {"completion": 3}, {"completion": "x", "answer": "1", "unknown": True}, GOOD, "not an object"]
    r = httpx.post(embedded_server + "/v1/score", json={"items": items})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["verdict"] for x in res] == ["correct", "error", "error", "correct", "error"]
    assert res[1]["details"]["error"]["field"] == "items[1].completion"
    assert res[2]["details"]["error"]["field"] == "items[2].unknown"
    assert res[4]["details"]["error"]["field"] == "items[4]"
    assert res[1]["reward"] is None


def test_unknown_route_and_method_use_the_error_shape(embedded_server):
    _err(httpx.get(embedded_server + "/v1/nothing"), 404)
    _err(httpx.get(embedded_server + "/v1/score"), 405)


def test_8192_items_in_one_request(embedded_server):
    items = [{"id": str(i), "completion": rf"\boxed{{{i % 7}}}", "answer": str(i % 5)} for i in range(8192)]
    r = httpx.post(embedded_server + "/v1/score", json={"items": items}, timeout=300)
    assert r.status_code == 200
    res = r.json()["results"]
    assert len(res) == 8192
    assert all((x["verdict"] == "correct") == (i % 7 == i % 5) for i, x in enumerate(res))


HOSTILE = [
    ("nul bytes", {"items": [{"completion": "\x00\\boxed{1}\x00", "answer": "1\x00"}]}),
    ("lone surrogate escape", '{"items": [{"completion": "\\ud800 \\\\boxed{1}", "answer": "1"}]}'),
    ("rtl and zero-width", {"items": [{"completion": "\u202e\u200b\\boxed{\u0661}\ufeff", "answer": "1"}]}),
    ("1e309", '{"items": [{"completion": "\\\\boxed{1}", "answer": "1", "num_tokens": 1e309}]}'),
    ("huge int", '{"items": [{"completion": "x", "answer": "1", "num_tokens": ' + "9" * 5000 + "}]}"),
    ("deep nesting", '{"items": [{"completion": "x", "answer": "1", "tests": ' + "[" * 100_000 + "]" * 100_000 + "}]}"),
    ("deep options", '{"items": [{"completion": "x", "answer": "1", "options": {"reward": ' + '{"a":' * 5000 + "1" + "}" * 5000 + "}}]}"),
    ("10 MB completion", {"items": [{"completion": "7" * 10_000_000, "answer": "7"}]}),
    ("10 MB answer", {"items": [{"completion": "\\boxed{7}", "answer": "7" * 10_000_000}]}),
    ("nan reward", '{"items": [{"completion": "x", "answer": "1"}], "options": {"failure_reward": NaN}}'),
]


@pytest.mark.parametrize(("name", "body"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_input_gets_a_clean_answer(embedded_server, name, body):
    """No 5xx, no hang, and any error in the one shape (per item or for the request)."""
    kw = {"json": body} if isinstance(body, dict) else {"content": body.encode("utf-8", "surrogatepass"), "headers": {"content-type": "application/json"}}
    r = httpx.post(embedded_server + "/v1/score", timeout=60, **kw)
    assert r.status_code < 500, (name, r.status_code, r.text[:300])
    if r.status_code >= 400:
        assert set(r.json()) == {"error"} and r.json()["error"]["code"], r.text[:300]
    else:
        [res] = r.json()["results"]
        assert res["verdict"] in ("correct", "incorrect", "no_answer", "error", "timeout")
        if res["verdict"] == "error":
            assert res["details"]["error"]["field"].startswith("items[0]")
    assert httpx.get(embedded_server + "/healthz").status_code == 200  # still serving


def test_queue_full_is_429_with_retry_after(tmp_path):
    """Past VERIRL_MAX_QUEUE_DEPTH waiting items the API answers 429 + Retry-After, and recovers."""
    import threading

    proc, url = procs.start_server(tmp_path, workers=1, VERIRL_MAX_QUEUE_DEPTH="50")
    try:
        # A verification stuck for 3 s holds the only verifier; 39 items wait behind it.
        slow = [{"id": "stuck", "completion": "\\boxed{(x+1)^{3000}}", "answer": "(x+2)^{3000}", "options": {"timeout_s": 3}}]
        slow += [{"id": f"w{i}", "completion": f"\\boxed{{{i}}}", "answer": str(i)} for i in range(39)]
        box = {}
        t = threading.Thread(target=lambda: box.setdefault("r", httpx.post(url + "/v1/score", json={"items": slow}, timeout=60)))
        t.start()
        time.sleep(1.0)
        r = httpx.post(url + "/v1/score", json={"items": [{"completion": "\\boxed{1}", "answer": "1"}] * 40}, timeout=60)
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "overloaded" and int(r.headers["retry-after"]) >= 1
        t.join(60)
        assert box["r"].status_code == 200 and box["r"].json()["results"][0]["verdict"] == "timeout"
        r = httpx.post(url + "/v1/score", json={"items": [{"completion": "\\boxed{1}", "answer": "1"}] * 40}, timeout=60)
        assert r.status_code == 200  # accepted again once the queue drained
    finally:
        proc.stop()


# -- the trainer endpoints are served by an ASGI fast path (service/routes/compat.py): its
#    refusals must be the very answers /v1/score gives for the same condition.

ONE = {
    "/v1/score": {"items": [{"completion": "\\boxed{1}", "answer": "1"}]},
    "/get_reward": {"query": ["q \\boxed{1}"], "prompts": ["q "], "labels": ["1"]},
    "/slime/reward": {"prompt": "q", "response": "\\boxed{1}", "label": "1"},
    "/slime/reward?detail=true": {"prompt": "q", "response": "\\boxed{1}", "label": "1"},
}


def _same_refusal(got: dict[str, httpx.Response], status: int, header: str | None = None) -> None:
    ref = got["/v1/score"]
    _err(ref, status)
    for path, r in got.items():
        assert r.status_code == status and r.json() == ref.json(), (path, r.status_code, r.text, ref.text)
        if header:
            assert r.headers.get(header) and r.headers.get(header) == ref.headers.get(header), (path, r.headers)
        assert r.headers.get("x-request-id"), path


def _queue_depth(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=30).text
    return float(next(x.split()[-1] for x in text.splitlines() if x.startswith("verirl_queue_depth ")))


def test_trainer_endpoints_refuse_a_full_queue_as_v1_score_does(tmp_path):
    """Queue full: a one-item request to each trainer endpoint gets /v1/score's 429, body and Retry-After."""
    import threading

    proc, url = procs.start_server(tmp_path, workers=1, VERIRL_MAX_QUEUE_DEPTH="50")
    try:
        # Answered after the start-up sandbox self-check (queued first on the only verifier): from now on
        # nothing but this test's items is queued.
        assert httpx.post(url + "/v1/score", json=ONE["/v1/score"], timeout=90).status_code == 200
        # A verification stuck for 8 s holds the only verifier; 49, then 1 more, wait behind it: 50 = the limit.
        slow = [{"id": "stuck", "completion": "\\boxed{(x+1)^{3000}}", "answer": "(x+2)^{3000}", "options": {"timeout_s": 8}}]
        slow += [{"id": f"w{i}", "completion": f"\\boxed{{{i}}}", "answer": str(i)} for i in range(49)]
        box: dict = {}
        threads = [threading.Thread(target=lambda: box.setdefault("slow", httpx.post(url + "/v1/score", json={"items": slow}, timeout=90)))]
        threads[0].start()
        deadline = time.monotonic() + 30
        while _queue_depth(url) < 49 and time.monotonic() < deadline:
            time.sleep(0.05)
        threads.append(threading.Thread(target=lambda: box.setdefault("last", httpx.post(url + "/v1/score", json=ONE["/v1/score"], timeout=90))))
        threads[1].start()
        while _queue_depth(url) < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        got = {path: httpx.post(url + path, json=body, timeout=30) for path, body in ONE.items()}
        _same_refusal(got, 429, "retry-after")
        assert got["/v1/score"].json()["error"]["code"] == "overloaded"
        for t in threads:
            t.join(90)
        assert box["slow"].status_code == 200 and box["slow"].json()["results"][0]["verdict"] == "timeout"
        assert box["last"].status_code == 200  # admitted before the probes: the queue was exactly full
        assert httpx.post(url + "/get_reward", json=ONE["/get_reward"], timeout=60).json()["rewards"] == [1.0]
    finally:
        proc.stop()


def test_trainer_endpoints_refuse_an_oversize_body_as_v1_score_does(tmp_path):
    """Over VERIRL_MAX_BODY_MB, declared (Content-Length) or streamed (chunked): /v1/score's 413."""
    proc, url = procs.start_server(tmp_path, workers=1, VERIRL_MAX_BODY_MB="0.01")  # 10 KiB
    try:
        pad = "x" * 20_000
        big = {
            "/v1/score": {"items": [{"completion": pad, "answer": "1"}]},
            "/get_reward": {"query": [pad], "labels": ["1"]},
            "/slime/reward": {"response": pad, "label": "1"},
            "/slime/reward?detail=true": {"response": pad, "label": "1"},
        }
        _same_refusal({p: httpx.post(url + p, json=b, timeout=30) for p, b in big.items()}, 413)

        def chunked(body: dict):
            raw = json.dumps(body).encode()
            for i in range(0, len(raw), 4096):
                yield raw[i : i + 4096]

        h = {"content-type": "application/json"}
        got = {p: httpx.post(url + p, content=chunked(b), headers=h, timeout=30) for p, b in big.items()}
        _same_refusal(got, 413)
        err = got["/v1/score"].json()["error"]
        assert err["code"] == "payload_too_large" and err["field"] == "body", err
        assert httpx.post(url + "/slime/reward", json=ONE["/slime/reward"], timeout=60).json() == 1.0  # small bodies pass
        assert "Traceback" not in proc.log_text()
    finally:
        proc.stop()


def test_assert_test_with_check_but_no_entry_point_is_an_item_error(embedded_server):
    # check(candidate) would never be called: a bad label, named by its field, never a pass
    item = {"task": "code", "completion": "```python\ndef add(a, b): return 0\n```",
            "tests": {"format": "assert", "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n"}}
    r = httpx.post(embedded_server + "/v1/score", json={"items": [GOOD, item]}, timeout=60)
    assert r.status_code == 200, r.text
    res = r.json()["results"][1]
    assert res["verdict"] == "error" and res["reward"] is None, res
    assert res["details"]["error"]["field"] == "items[1].tests.entry_point", res["details"]


def test_a_completion_over_the_cap_is_incorrect_too_long_never_a_null_reward(embedded_server):
    # issue 19: over 200,000 characters was a per-item error (null reward), a 422 when alone
    long = "Let me think. " * 15_000 + "\\boxed{2}"
    for body in ({"items": [{"completion": long, "answer": "2", "options": {"reward": "dapo"}}]},
                 {"items": [{"completion": long, "answer": "2", "options": {"reward": "dapo"}}, GOOD]}):
        r = httpx.post(embedded_server + "/v1/score", json=body, timeout=60)
        assert r.status_code == 200, r.text
        res = r.json()["results"][0]
        assert (res["verdict"], res["details"]["reason"], res["reward"]) == ("incorrect", "too_long", -1.0), res
    one = httpx.post(embedded_server + "/get_reward", json={"query": [long], "labels": ["2"]}, timeout=60)
    assert one.status_code == 200 and one.json()["rewards"] == [0.0], one.text
