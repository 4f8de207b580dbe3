"""Pieces shared by the trainer integrations."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from verirl.client import Client
from verirl.errors import ClientError, VerirlError
from verirl.labels import apply_think, invalid_label_result, item_from_label, label_error, warn_invalid_label
from verirl.schemas import FAILURE_VERDICTS

TERMS = ("accuracy", "format", "length", "repetition")

_lock = threading.Lock()
_clients: dict[tuple, Client] = {}


def _after_fork() -> None:  # a lock held by another thread at fork time would never be released in the child
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def _key(url: str | None, api_key: str | None, timeout: float, integration: str | None) -> tuple:
    from verirl.client import _env_url, _headers

    return (_env_url(url), tuple(sorted(_headers(api_key).items())), timeout, integration)


def shared_client(
    url: str | None = None, api_key: str | None = None, timeout: float = 600.0, integration: str | None = None
) -> Client:
    """One pooled client per (url, key, timeout, integration) per process: trainers call reward
    functions in a loop. The client itself is fork-safe (a forked child opens its own connections)."""
    key = _key(url, api_key, timeout, integration)
    with _lock:
        c = _clients.get(key)
        if c is None:
            c = _clients[key] = Client(url, api_key, timeout=timeout, integration=integration)
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
    err = details.get("error")
    out: dict[str, Any] = {
        "score": failure_score if res["reward"] is None else float(res["reward"]),
        "acc": 1.0 if res["verdict"] == "correct" else 0.0,
        "verdict": res["verdict"],
        "pred": res.get("extracted") or "",
        "undecided": 1.0 if undecided else 0.0,
        "error_code": (err.get("code") if isinstance(err, dict) else ("error" if err else "")) if undecided else "",
    }
    for t in TERMS:
        out[t] = float(breakdown.get(t, 0.0))
    return out


class Entry:
    """One response to grade, as a trainer hands it over."""

    __slots__ = ("response", "label", "prompt", "extra", "num_tokens", "task")

    def __init__(
        self, response: str, label: Any, prompt: Any = None, extra: dict | None = None, num_tokens: int | None = None,
        task: str | None = None,
    ) -> None:
        self.response, self.label, self.prompt, self.extra, self.num_tokens = response, label, prompt, extra, num_tokens
        self.task = task  # the task the trainer's data source names (verl: ifeval -> instruction), if any


class Prepared:
    """Entries as items for the server. An entry whose label is unusable goes as an item that
    carries the problem (``label_error``): the server answers it without grading and counts it
    in ``verirl_label_errors_total``; ``local`` holds the same answer, for when the server
    cannot be reached and no item needed it."""

    def __init__(self, n: int) -> None:
        self.results: list[dict | None] = [None] * n
        self.items: list[dict] = []
        self.index: list[int] = []
        self.local: list[dict | None] = []

    def merge(self, out: dict) -> list[dict]:
        for i, r in zip(self.index, out["results"], strict=True):
            self.results[i] = r
        return [r for r in self.results if r is not None]


def prepare(
    entries: Sequence[Entry],
    *,
    hint: str,
    task: str | None = None,
    think: str | None = None,
    tokenizer: str | None = None,
    group_of: Any = None,
) -> Prepared:
    counter = None
    if tokenizer:
        from verirl.tokens import token_counter

        counter = token_counter(tokenizer)
    p = Prepared(len(entries))
    for i, e in enumerate(entries):
        t = task or e.task
        err = label_error(e.label, hint=hint, task=t)
        if err is not None:
            warn_invalid_label(err)
            p.items.append({"id": str(i), "completion": e.response or "",
                            "label_error": {"field": err["field"], "message": err["message"]}})
            p.index.append(i)
            p.local.append(invalid_label_result(err, id=str(i)))
            continue
        item = apply_think(item_from_label(e.response or "", e.label, id=str(i), task=t), think, e.prompt)
        extra = e.extra if isinstance(e.extra, dict) else {}
        if extra.get("problem_id") is not None and "problem_id" not in item:
            item["problem_id"] = str(extra["problem_id"])
        if e.num_tokens is not None:
            item["num_tokens"] = int(e.num_tokens)
        elif isinstance(extra.get("num_tokens"), int):
            item["num_tokens"] = extra["num_tokens"]
        elif counter is not None:
            item["num_tokens"] = counter(item["completion"])
        if group_of is not None:
            g = group_of(i)
            if g is not None:
                item["group"] = g
        p.items.append(item)
        p.index.append(i)
        p.local.append(None)
    return p


def only_label_errors(p: Prepared) -> bool:
    return bool(p.local) and all(r is not None for r in p.local)


def local_answer(p: Prepared) -> dict:
    """The answer when every item is a label error and the server could not be told."""
    return {"results": list(p.local)}


def _all_invalid(items: list[dict], exc: ClientError) -> dict:
    err = {"code": exc.code, "field": exc.field, "message": exc.message}
    return {"results": [{"id": it.get("id"), "reward": None, "verdict": "error", "extracted": None, "details": {"error": err}} for it in items]}


def score_items(client: Client, items: list[dict], options: dict | None, local: Prepared | None = None) -> dict:
    """Score; when the server refuses the batch because *every item* is invalid
    (a 422 naming ``items[i]``), answer each with an ``error`` verdict instead of
    failing the training step. Request-level errors (auth, a bad reward spec) raise,
    except when ``local`` holds only label errors (answered here if the server is away)."""
    if not items:
        return {"results": []}
    try:
        return client.score(items, options)
    except ClientError as exc:
        if exc.status_code == 422 and (exc.field or "").startswith("items["):
            return _all_invalid(items, exc)
        if local is not None and only_label_errors(local):
            return local_answer(local)
        raise
    except VerirlError:
        if local is not None and only_label_errors(local):
            return local_answer(local)
        raise


async def ascore_items(client: Any, items: list[dict], options: dict | None, local: Prepared | None = None) -> dict:
    if not items:
        return {"results": []}
    try:
        return await client.score(items, options)
    except ClientError as exc:
        if exc.status_code == 422 and (exc.field or "").startswith("items["):
            return _all_invalid(items, exc)
        if local is not None and only_label_errors(local):
            return local_answer(local)
        raise
    except VerirlError:
        if local is not None and only_label_errors(local):
            return local_answer(local)
        raise
