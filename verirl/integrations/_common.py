"""Pieces shared by the trainer integrations."""

from __future__ import annotations

import threading
from typing import Any

from verirl.client import Client
from verirl.errors import ClientError
from verirl.schemas import FAILURE_VERDICTS

TERMS = ("accuracy", "format", "length", "repetition")

_lock = threading.Lock()
_clients: dict[tuple, Client] = {}


def shared_client(url: str | None = None, api_key: str | None = None, timeout: float = 600.0) -> Client:
    """One pooled client per (url, key, timeout) per process: trainers call reward functions in a loop."""
    from verirl.client import _env_url, _headers

    key = (_env_url(url), tuple(sorted(_headers(api_key).items())), timeout)
    with _lock:
        c = _clients.get(key)
        if c is None:
            c = _clients[key] = Client(url, api_key, timeout=timeout)
        return c


def request_options(reward: Any = None, options: dict | None = None) -> dict | None:
    opts = dict(options or {})
    if reward is not None:
        opts["reward"] = reward
    return opts or None


def flat_result(res: dict, failure_score: float) -> dict[str, Any]:
    """A result as a flat dict with the same keys for every item (verl's reward_extra_info needs that)."""
    details = res.get("details") or {}
    breakdown = details.get("reward_breakdown") or {}
    undecided = res["verdict"] in FAILURE_VERDICTS
    out: dict[str, Any] = {
        "score": failure_score if res["reward"] is None else float(res["reward"]),
        "acc": 1.0 if res["verdict"] == "correct" else 0.0,
        "verdict": res["verdict"],
        "pred": res.get("extracted") or "",
        "undecided": 1.0 if undecided else 0.0,
    }
    for t in TERMS:
        out[t] = float(breakdown.get(t, 0.0))
    return out


def _all_invalid(items: list[dict], exc: ClientError) -> dict:
    err = {"code": exc.code, "field": exc.field, "message": exc.message}
    return {"results": [{"id": it.get("id"), "reward": None, "verdict": "error", "extracted": None, "details": {"error": err}} for it in items]}


def score_items(client: Client, items: list[dict], options: dict | None) -> dict:
    """Score; when the server refuses the batch because *every item* is invalid
    (a 422 naming ``items[i]``), answer each with an ``error`` verdict instead of
    failing the training step. Request-level errors (auth, a bad reward spec) raise."""
    try:
        return client.score(items, options)
    except ClientError as exc:
        if exc.status_code == 422 and (exc.field or "").startswith("items["):
            return _all_invalid(items, exc)
        raise


async def ascore_items(client: Any, items: list[dict], options: dict | None) -> dict:
    try:
        return await client.score(items, options)
    except ClientError as exc:
        if exc.status_code == 422 and (exc.field or "").startswith("items["):
            return _all_invalid(items, exc)
        raise
