"""Label errors from every path count in ``verirl_label_errors_total`` on the server's /metrics,
and a slime caller (who reads only a float) gets a WARNING naming the problem in the server's log.

Real server over HTTP; the verl and TRL functions are the ones trainers load."""

from __future__ import annotations

import json

import httpx
import pytest

from tests import procs
from tests.helpers import post

UNBALANCED = "\\frac{1}{2"  # a math gold the grader refuses: invalid_label, found in the verifier process


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    proc, url = procs.start_server(tmp_path_factory.mktemp("labels"), workers=2)
    yield proc, url
    proc.stop()


def _counts(url: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("verirl_label_errors_total{"):
            endpoint = line.split('endpoint="', 1)[1].split('"', 1)[0]
            out[endpoint] = float(line.split()[-1])
    return out


def _delta(url: str, before: dict[str, float]) -> dict[str, float]:
    now = _counts(url)
    return {k: v - before.get(k, 0.0) for k, v in now.items() if v != before.get(k, 0.0)}


def test_unbalanced_gold_on_v1_score_is_counted(server) -> None:
    _, url = server
    before = _counts(url)
    r = post(url, "/v1/score", {"items": [{"completion": "\\boxed{1/2}", "answer": UNBALANCED},
                                          {"completion": "\\boxed{2}", "answer": "2"}]})
    res = r.json()["results"]
    assert [x["verdict"] for x in res] == ["error", "correct"]
    assert res[0]["details"]["error"]["code"] == "invalid_label"
    assert _delta(url, before) == {"score": 1.0}


def test_openrlhf_labels_missing_or_unbalanced_are_counted(server) -> None:
    _, url = server
    before = _counts(url)
    r = post(url, "/get_reward", {"query": ["\\boxed{1}", "\\boxed{1/2}", "\\boxed{3}"], "prompts": ["", "", ""],
                                  "labels": ["", UNBALANCED, "3"]})
    assert r.json()["verdicts"] == ["error", "error", "correct"]
    assert [e and e["code"] for e in r.json()["errors"]] == ["invalid_label", "invalid_label", None]
    assert _delta(url, before) == {"openrlhf": 2.0}


def test_slime_label_errors_are_counted_and_logged(server) -> None:
    proc, url = server
    before = _counts(url)
    r = post(url, "/slime/reward", {"prompt": "p", "response": "\\boxed{1}", "label": ""})
    assert r.status_code == 200 and r.json() == 0.0 and r.headers["x-verirl-verdict"] == "error"
    r = post(url, "/slime/reward", {"prompt": "p", "response": "\\boxed{1/2}", "label": UNBALANCED})
    assert r.status_code == 200 and r.json() == 0.0 and r.headers["x-verirl-verdict"] == "error"
    assert _delta(url, before) == {"slime": 2.0}
    warnings = [json.loads(line) for line in proc.log_text().splitlines() if line.startswith("{") and "label error from slime" in line]
    assert {w["level"] for w in warnings} == {"warning"}
    text = " ".join(w["msg"] for w in warnings)
    assert "the label is empty" in text and "--label-key" in text  # the problem and slime's fix
    assert "unbalanced braces" in text and UNBALANCED in text


def test_verl_and_trl_label_errors_are_counted_under_their_names(server, monkeypatch: pytest.MonkeyPatch) -> None:
    _, url = server
    monkeypatch.setenv("VERIRL_URL", url)
    from verirl.integrations.trl import VerirlReward
    from verirl.integrations.verl import compute_score, compute_score_batch

    before = _counts(url)
    out = compute_score("math", "\\boxed{4}", "")  # verl: an empty ground truth
    assert out["verdict"] == "error" and out["error_code"] == "invalid_label" and out["undecided"] == 1.0
    outs = compute_score_batch(["math"] * 3, ["\\boxed{1/2}", "\\boxed{4}", "\\boxed{4}"], [UNBALANCED, "4", None])
    assert [o["verdict"] for o in outs] == ["error", "correct", "error"]
    assert {o["error_code"] for o in (outs[0], outs[2])} == {"invalid_label"}
    assert _delta(url, before) == {"verl": 3.0}

    before = _counts(url)
    rewards = VerirlReward()(prompts=["p", "p", "p"], completions=["\\boxed{4}", "\\boxed{1/2}", "\\boxed{4}"],
                             answer=["", UNBALANCED, "4"])
    assert rewards == [None, None, 1.0]
    assert _delta(url, before) == {"trl": 2.0}


def test_label_errors_counted_in_distributed_mode(distributed) -> None:
    url = distributed["url"]
    before = _counts(url)
    r = post(url, "/v1/score", {"items": [{"completion": "\\boxed{1/2}", "answer": UNBALANCED}]})
    assert r.json()["results"][0]["details"]["error"]["code"] == "invalid_label"
    r = post(url, "/slime/reward", {"prompt": "p", "response": "x", "label": "   "})
    assert r.headers["x-verirl-verdict"] == "error"
    assert _delta(url, before) == {"score": 1.0, "slime": 1.0}
