"""The hot path (service/hot.py) answers /v1/score as the FastAPI route does, byte for byte
apart from timings: the same request through both, on a real server."""

from __future__ import annotations

import httpx

from service.hot import score_response_json
from verirl.schemas import ScoreResponse

ITEMS = [
    {"id": "a", "completion": "so \\boxed{\\frac{1}{2}}", "answer": "0.5", "group": "g"},
    {"id": "b", "completion": "\\boxed{3}", "answer": "4", "group": "g"},
    {"id": "c", "completion": "no answer here", "answer": "4"},
    {"id": "d", "completion": "\\boxed{1}", "answer": "1", "options": {"reward": "dapo"}},
    {"id": "e", "completion": "\\boxed{1}", "answer": "1", "options": {"timeout_s": 1e-9}},
    {"id": "f", "completion": "\\boxed{1}", "answer": "\\frac{1}{2"},
    {"id": "g", "completion": 5, "answer": "1"},
    "not an item",
]


def _without_timings(body: dict) -> dict:
    for r in body["results"]:
        (r.get("details") or {}).pop("verify_ms", None)
    body["stats"].pop("seconds", None)
    return body


def test_hot_path_answers_as_the_route(embedded_server: str) -> None:
    hot = httpx.post(embedded_server + "/v1/score", json={"items": ITEMS}, timeout=60)
    # A query string sends the request through FastAPI's route (the hot path replays it there).
    route = httpx.post(embedded_server + "/v1/score?via=route", json={"items": ITEMS}, timeout=60)
    assert hot.status_code == route.status_code == 200
    assert hot.headers["content-type"] == route.headers["content-type"] == "application/json"
    assert hot.headers["x-request-id"] and route.headers["x-request-id"]
    assert [r["verdict"] for r in hot.json()["results"]] == ["correct", "incorrect", "no_answer", "correct", "timeout", "error", "error", "error"]
    assert _without_timings(hot.json()) == _without_timings(route.json())


def test_encoding_matches_the_response_model() -> None:
    out = {
        "results": [
            {"id": "a", "reward": 1, "verdict": "correct", "extracted": "1", "details": {"layer": "string", "t": (1, 2)}},
            {"id": None, "reward": None, "verdict": "error", "extracted": None, "details": {"error": "x"}, "difficulty": {"n": 1}},
        ],
        "stats": {"items": 2, "mode": "embedded"},
        "groups": {"g": {"size": 2, "mean": 0.5, "std": 0.5, "pass_rate": 0.5, "zero_variance": False, "failures": 0}},
    }
    import json

    assert json.loads(score_response_json(out)) == ScoreResponse.model_validate(out).model_dump(mode="json")
