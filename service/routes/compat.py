"""Drop-in endpoints with other tools' exact contracts: SandboxFusion's /run_code,
OpenRLHF's /get_reward and slime's remote reward.

The trainer endpoints answer 200 for every well-formed body, whatever its
labels: an item whose label is missing, empty or unreadable gets verdict
`error` (`details.error.code = "invalid_label"`, a message naming the fix) and
`failure_reward` (default 0.0, the documented neutral value), a warning in the
log once per process and a count in `verirl_label_errors_total`. They are the
hot path of a training run (one item per request, thousands per step), so the
body is parsed once (pydantic from raw bytes) and the answer written with
orjson; the grading goes through `score_batch` like `/v1/score`.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from verirl.batch import prepare_items, request_base
from verirl.errors import InvalidInput
from verirl.labels import (
    THINK_MODES,
    apply_think,
    invalid_label_result,
    item_from_label,
    label_error,
    response_of,
)
from verirl.rewards import parse_spec
from verirl.schemas import FAILURE_VERDICTS, ScoreOptions

from ..deps import DispatcherDep
from ..jobs import score_items
from ..observe import RECORDER

router = APIRouter(tags=["compat"])


class RunCodeRequest(BaseModel):
    """SandboxFusion's request (sandbox/server/sandbox_api.py), plus memory_limit_MB as verl sends it."""

    model_config = ConfigDict(extra="ignore")
    compile_timeout: float = Field(10, gt=0, le=120)
    run_timeout: float = Field(10, gt=0, le=120)
    code: str = Field(..., max_length=1_000_000)
    stdin: str | None = None
    language: str
    files: dict[str, str | None] = Field(default_factory=dict)
    fetch_files: list[str] = Field(default_factory=list)
    memory_limit_MB: int = Field(-1, le=8192, description="MiB for the run (the item maximum, as options.memory_mb); 0 or less: the default.")
    network: Literal["none", "loopback"] = Field(
        "none", description="verirl's own: `loopback` gives the run a working loopback (own network namespace, nothing else)."
    )

    @field_validator("files", "fetch_files")
    @classmethod
    def _paths_inside(cls, v):
        """A path that leaves the working directory (``..``) or names nothing is a 422, not a silent drop."""
        from verirl.code.grader import work_path

        bad = [p for p in v if work_path(p) is None]
        if bad:
            raise ValueError(f"path {bad[0]!r} is not inside the program's working directory (no '..', not empty)")
        return v

    @field_validator("language")
    @classmethod
    def _known_language(cls, v: str) -> str:
        """As in SandboxFusion (a Literal there): a name it does not know is a 422."""
        from verirl.code.grader import SANDBOXFUSION_LANGUAGES, run_code_language_known

        if not run_code_language_known(v):
            raise ValueError(f"unknown language {v!r}; SandboxFusion's languages: {', '.join(SANDBOXFUSION_LANGUAGES)}")
        return v


@router.post("/run_code", operation_id="run_code")
async def run_code(req: RunCodeRequest, dispatcher: DispatcherDep) -> dict:
    """Run one program; the response is SandboxFusion's RunCodeResponse."""
    item = {"task": "run_code", "request": req.model_dump()}
    budget = req.compile_timeout + req.run_timeout + 30
    [res] = await dispatcher.score([item], time.monotonic() + budget)
    out = res.get("details", {}).get("run_code")
    if out is None:
        msg = res.get("details", {}).get("error", "sandbox failure")
        return {"status": "SandboxError", "message": str(msg), "compile_result": None, "run_result": None, "executor_pod_name": None, "files": {}}
    return out


# --------------------------------------------------------------------------- trainer contracts

@dataclass
class TrainerQuery:
    """The query string of the trainer endpoints (their bodies are fixed by the trainers)."""

    options: ScoreOptions
    failure_reward: float
    task: str | None
    think: str | None
    tokenizer: str | None
    _base: tuple[Any, dict] | None = None

    def base(self, settings: Any) -> dict:
        """The request options every item starts from (computed once per query and settings)."""
        if self._base is None or self._base[0] is not settings:
            self._base = (settings, request_base(self.options, settings.reward_spec))
        return self._base[1]


def make_trainer_query(
    reward: str | None, failure_reward: float, task: str | None, think: str | None, tokenizer: str | None
) -> TrainerQuery:
    opts: dict[str, Any] = {"failure_reward": failure_reward}
    if reward:
        opts["reward"] = parse_spec(reward)
    return TrainerQuery(ScoreOptions.model_validate(opts), failure_reward, task, think, tokenizer)


async def trainer_query(
    reward: str | None = Query(None, description="Reward preset or JSON spec (default VERIRL_DEFAULT_REWARD)."),
    failure_reward: float = Query(
        0.0, description="Reward for timeout/error (and unusable labels): these trainers need a number. 0.0 is neutral."
    ),
    task: Literal["math", "code", "instruction", "qa"] | None = Query(None, description="Force the task (else from the label)."),
    think: Literal[THINK_MODES] | None = Query(  # type: ignore[valid-type]
        None, description="Think mode (default VERIRL_TRAINER_THINK): auto, open, strip, required, ignore."
    ),
    tokenizer: str | None = Query(
        None, description="A tokenizer in the server's VERIRL_TOKENIZER_DIR, for token lengths (default VERIRL_TOKENIZER)."
    ),
) -> TrainerQuery:
    return make_trainer_query(reward, failure_reward, task, think, tokenizer)


TrainerQueryDep = Annotated[TrainerQuery, Depends(trainer_query)]


def _as_list(v: Any, n: int, field: str) -> list:
    if v is None:
        return [None] * n
    out = v if isinstance(v, list) else [v]
    if len(out) != n:
        raise InvalidInput(f"{field} has {len(out)} entries, query has {n}", field=field)
    return out


def _numeric_terms(results: list[dict]) -> dict[str, list[float]]:
    keys: list[str] = []
    for r in results:
        for k, v in (r.get("details") or {}).get("reward_breakdown", {}).items():
            if isinstance(v, int | float) and k not in keys and k != "length_value":
                keys.append(k)
    return {
        k: [float((r.get("details") or {}).get("reward_breakdown", {}).get(k, 0.0)) for r in results] for k in keys
    }


def _counter(settings: Any, q: TrainerQuery) -> Any:
    from verirl.tokens import resolve_named, token_counter

    if q.tokenizer:
        return token_counter(resolve_named(q.tokenizer, settings.tokenizer_dir, field="query.tokenizer"), "query.tokenizer")
    if settings.tokenizer:
        return token_counter(settings.tokenizer, "VERIRL_TOKENIZER")
    return None


async def _grade(
    app: Any,
    endpoint: str,
    entries: list[tuple[str, Any, Any, str]],
    q: TrainerQuery,
) -> list[dict]:
    """Grade (response, label, prompt, label field) entries; unusable labels become
    `error` results here and never reach the verifiers, item errors never become a 4xx."""
    settings = app.state.settings
    think = q.think or settings.trainer_think
    count = _counter(settings, q)
    results: list[dict | None] = [None] * len(entries)
    todo: list[int] = []
    items: list[dict] = []
    hint = "openrlhf" if endpoint == "openrlhf" else "slime"
    for i, (response, label, prompt, field) in enumerate(entries):
        err = label_error(label, field=field, hint=hint, task=q.task)
        if err is not None:  # counted and warned (service.observe) with the request's other results
            results[i] = invalid_label_result(err, id=str(i), reward=q.failure_reward)
            continue
        item = apply_think(item_from_label(response, label, id=str(i), task=q.task), think, prompt)
        if count is not None and item.get("completion"):
            item["num_tokens"] = count(item["completion"])
        todo.append(i)
        items.append(item)
    bad = [r for r in results if r is not None]
    if bad:
        RECORDER.record_results([None] * len(bad), bad, endpoint)
    if items:
        if len(items) > settings.max_items:
            raise InvalidInput(f"at most {settings.max_items} items per request", field="items")
        try:
            out = await score_items(app.state.dispatcher, settings, items, q.base(settings), app.state.registry,
                                    log_each=len(items) >= 64, endpoint=endpoint)
            graded = out["results"]
        except InvalidInput as exc:
            if not (exc.field or "").startswith("items["):
                raise
            # Every item was refused (e.g. malformed code tests): each gets its own error verdict.
            _, errors = prepare_items(
                items, q.options, max_completion_chars=settings.max_completion_chars,
                max_answer_chars=settings.max_answer_chars, default_reward=settings.reward_spec,
            )
            graded = [e or invalid_label_result({"code": exc.code, "field": exc.field or "", "message": exc.message}) for e in errors]
            for g in graded:
                g["reward"] = q.failure_reward
            RECORDER.record_results([None] * len(graded), graded, endpoint)
        for i, res in zip(todo, graded, strict=True):
            results[i] = res
    return [r for r in results if r is not None]


def _reward(r: dict, failure_reward: float) -> float:
    return float(r["reward"]) if r["reward"] is not None else failure_reward


def _json(body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


class OpenRLHFRequest(BaseModel):
    """OpenRLHF's remote reward body: {"query", "prompts", "labels"} (openrlhf/utils/agent.py
    `_fetch_rewards_via_http` sends one item per request; the legacy
    openrlhf/utils/remote_rm_utils.py sends a batch)."""

    model_config = ConfigDict(extra="ignore")
    query: list[str] | str
    prompts: list[str | None] | str | None = None
    labels: list[Any] | str | int | float | dict | None = None


async def openrlhf_rewards(app: Any, req: OpenRLHFRequest, q: TrainerQuery) -> dict[str, Any]:
    queries = req.query if isinstance(req.query, list) else [req.query]
    if not queries:
        raise InvalidInput("query is empty", field="query")
    n = len(queries)
    prompts = _as_list(req.prompts, n, "prompts")
    labels = _as_list(req.labels, n, "labels")
    entries = [
        (response_of(text, p), lab, p, "labels" if not isinstance(req.labels, list) else f"labels[{i}]")
        for i, (text, p, lab) in enumerate(zip(queries, prompts, labels, strict=True))
    ]
    results = await _grade(app, "openrlhf", entries, q)
    extra = {
        "correct": [1.0 if r["verdict"] == "correct" else 0.0 for r in results],
        "undecided": [1.0 if r["verdict"] in FAILURE_VERDICTS else 0.0 for r in results],
        **_numeric_terms(results),
    }
    return {
        "rewards": [_reward(r, q.failure_reward) for r in results],
        "scores": extra["correct"],
        "extra_logs": extra,
        "verdicts": [r["verdict"] for r in results],
        "errors": [(r.get("details") or {}).get("error") if r["verdict"] in FAILURE_VERDICTS else None for r in results],
    }


@router.post("/get_reward", operation_id="openrlhf_get_reward")
async def openrlhf_get_reward(req: OpenRLHFRequest, request: Request, q: TrainerQueryDep) -> Response:
    """OpenRLHF `--remote_rm_url http://HOST:PORT/get_reward`: rewards, scores, extra_logs (one entry per query)."""
    return _json(await openrlhf_rewards(request.app, req, q))


class SlimeRequest(BaseModel):
    """slime's remote reward body (slime/rollout/rm_hub/__init__.py remote_rm: {"prompt", "response", "label"})."""

    model_config = ConfigDict(extra="ignore")
    prompt: Any = None
    response: str
    label: Any = None


async def slime_score(app: Any, req: SlimeRequest, q: TrainerQuery, detail: bool) -> tuple[Any, dict[str, str]]:
    [res] = await _grade(app, "slime", [(req.response, req.label, req.prompt, "label")], q)
    score = _reward(res, q.failure_reward)
    headers = {"X-Verirl-Verdict": res["verdict"]}
    if not detail:
        return score, headers
    return {
        "score": score,
        "verdict": res["verdict"],
        "extracted": res.get("extracted"),
        "breakdown": (res.get("details") or {}).get("reward_breakdown", {}),
        "error": (res.get("details") or {}).get("error"),
    }, headers


@router.post("/slime/reward", operation_id="slime_reward")
async def slime_reward(
    req: SlimeRequest,
    request: Request,
    q: TrainerQueryDep,
    detail: bool = Query(False, description="Return a dict (use slime's --reward-key score) instead of a number."),
) -> Response:
    """slime `--rm-type remote_rm --rm-url http://HOST:PORT/slime/reward`: a number (or a dict with `detail=true`)."""
    body, headers = await slime_score(request.app, req, q, detail)
    return _json(body, headers)


# --------------------------------------------------------------------------- the hot path

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


@functools.lru_cache(maxsize=256)
def _fast_query(raw: bytes) -> tuple[TrainerQuery, bool] | None:
    """The trainer query string, or None when anything is off (FastAPI then answers the 4xx).
    Cached: a trainer sends the same URL thousands of times (TrainerQuery is never mutated)."""
    params = dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
    try:
        failure_reward = float(params.get("failure_reward", 0.0))
        task, think = params.get("task"), params.get("think")
        if (task is not None and task not in ("math", "code", "instruction", "qa")) or (think is not None and think not in THINK_MODES):
            return None
        detail = params.get("detail", "false").lower()
        if detail not in _TRUE | _FALSE:
            return None
        q = make_trainer_query(params.get("reward"), failure_reward, task, think, params.get("tokenizer"))
    except (ValueError, InvalidInput):
        return None
    return q, detail in _TRUE


async def trainer_answer(app: Any, path: str, query: bytes, body: bytes) -> tuple[int, bytes, list] | None:
    """The hot path of ``/get_reward`` and ``/slime/reward`` (``service.hot``): (status, body,
    extra headers), or None when the request is not well-formed (the route then gives the 4xx).
    Same functions as the routes, without FastAPI's router and dependency solving, which
    cost more CPU than the grading of a one-item request (bench/README.md: trainer bench)."""
    parsed = _fast_query(query)
    if parsed is None:
        return None
    q, detail = parsed
    try:
        if path == "/get_reward":
            req = OpenRLHFRequest.model_validate_json(body)
        else:
            sreq = SlimeRequest.model_validate_json(body)
    except ValidationError:
        return None
    if path == "/get_reward":
        return 200, orjson.dumps(await openrlhf_rewards(app, req, q)), []
    out, headers = await slime_score(app, sreq, q, detail)
    return 200, orjson.dumps(out), [(k.lower().encode(), v.encode()) for k, v in headers.items()]
