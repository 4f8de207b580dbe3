"""A row of every public code-label shape through the three trainer paths: its reference solution
is `correct`, its mutants `incorrect` (rows: tests/verirl/data/code_labels.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import post

ROWS = json.loads((Path(__file__).parent / "verirl" / "data" / "code_labels.json").read_text())
CASES = [
    (r["dataset"], r["label"], completion, "correct" if kind == "solution" else "incorrect")
    for r in ROWS
    for kind, completion in [("solution", r["solution"]), *(("mutant", m) for m in r["mutants"])]
    if completion is not None
]


@pytest.fixture(autouse=True)
def _server_env(embedded_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERIRL_URL", embedded_server)
    monkeypatch.delenv("VERIRL_API_KEY", raising=False)


def test_openrlhf_get_reward_every_shape(embedded_server: str) -> None:
    body = {"query": [c for _, _, c, _ in CASES], "prompts": [""] * len(CASES), "labels": [lab for _, lab, _, _ in CASES]}
    r = post(embedded_server, "/get_reward", body)
    assert r.status_code == 200, r.text
    got = r.json()["verdicts"]
    assert [(name, v) for (name, _, _, _), v in zip(CASES, got, strict=True)] == [(name, want) for name, _, _, want in CASES]
    assert r.json()["rewards"] == [1.0 if want == "correct" else 0.0 for *_, want in CASES]


def test_slime_reward_every_shape(embedded_server: str) -> None:
    firsts = {}
    for name, lab, comp, want in CASES:  # the solution and the first mutant of each row
        firsts.setdefault((name, want), (lab, comp))
    for (name, want), (lab, comp) in firsts.items():
        r = post(embedded_server, "/slime/reward?detail=true", {"prompt": "", "response": comp, "label": lab})
        assert r.status_code == 200, r.text
        assert r.json()["verdict"] == want, (name, r.json())


def test_verl_compute_score_every_shape() -> None:
    from verirl.integrations.verl import compute_score

    firsts = {}
    for name, lab, comp, want in CASES:
        firsts.setdefault((name, want), (lab, comp))
    for (name, want), (lab, comp) in firsts.items():
        out = compute_score("code", comp, lab, extra_info={"index": 0})
        assert out["verdict"] == want, (name, out)
        assert out["score"] == (1.0 if want == "correct" else 0.0)


def test_unknown_code_shape_is_error_on_every_path(embedded_server: str) -> None:
    from verirl.integrations.verl import compute_score

    label = {"entry_point": "f", "canonical_solution": "def f(): return 1"}
    r = post(embedded_server, "/get_reward", {"query": ["```python\ndef f(): return 1\n```"], "labels": [label]})
    assert r.json()["verdicts"] == ["error"] and "canonical_solution" in r.json()["errors"][0]["message"]
    r = post(embedded_server, "/slime/reward?detail=true", {"prompt": "", "response": "x", "label": label})
    assert r.json()["verdict"] == "error" and r.json()["error"]["code"] == "invalid_label"
    out = compute_score("code", "x", json.dumps(label))
    assert out["verdict"] == "error" and out["error_code"] == "invalid_label" and out["undecided"] == 1.0
