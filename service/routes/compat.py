"""Drop-in endpoints with other tools' exact contracts: SandboxFusion's /run_code,
OpenRLHF's /get_reward and slime's remote reward."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from verirl.errors import InvalidInput
from verirl.labels import item_from_label, response_of
from verirl.rewards import parse_spec
from verirl.schemas import FAILURE_VERDICTS, ScoreOptions, ScoreRequest

from ..deps import DispatcherDep, SettingsDep
from ..jobs import score_batch

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
    memory_limit_MB: int = -1

    @field_validator("language")
    @classmethod
    def _known_language(cls, v: str) -> str:
        """As in SandboxFusion (a Literal there): a name it does not know is a 422."""
        from verirl.code import SANDBOXFUSION_LANGUAGES, run_code_language_known

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


def trainer_query(
    reward: str | None = Query(None, description="Reward preset or JSON spec (default VERIRL_DEFAULT_REWARD)."),
    failure_reward: float = Query(0.0, description="Reward for timeout/error: these trainers need a number."),
    task: Literal["math", "code", "instruction", "qa"] | None = Query(None, description="Force the task (else from the label)."),
) -> TrainerQuery:
    opts: dict[str, Any] = {"failure_reward": failure_reward}
    if reward:
        opts["reward"] = parse_spec(reward)
    return TrainerQuery(ScoreOptions.model_validate(opts), failure_reward, task)


TrainerQueryDep = Annotated[TrainerQuery, Depends(trainer_query)]


def _as_list(v: Any, n: int | None, field: str) -> list:
    if v is None:
        return [None] * (n or 0)
    out = v if isinstance(v, list) else [v]
    if n is not None and len(out) != n:
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


class OpenRLHFRequest(BaseModel):
    """OpenRLHF's remote reward body (openrlhf/utils/remote_rm_utils.py: {"query", "prompts", "labels"})."""

    model_config = ConfigDict(extra="ignore")
    query: list[str] | str
    prompts: list[str | None] | str | None = None
    labels: list[Any] | str | int | float | dict | None = None


@router.post("/get_reward", operation_id="openrlhf_get_reward")
async def openrlhf_get_reward(
    req: OpenRLHFRequest,
    request: Request,
    dispatcher: DispatcherDep,
    settings: SettingsDep,
    q: TrainerQueryDep,
) -> dict:
    """OpenRLHF `--remote_rm_url http://HOST:PORT/get_reward`: rewards, scores, extra_logs."""
    queries = req.query if isinstance(req.query, list) else [req.query]
    if not queries:
        raise InvalidInput("query is empty", field="query")
    if req.labels is None:
        raise InvalidInput("labels (the ground truths) are required: start OpenRLHF with --label_key", field="labels")
    prompts = _as_list(req.prompts, len(queries), "prompts")
    labels = _as_list(req.labels, len(queries), "labels")
    items = [
        item_from_label(response_of(text, p), lab, id=str(i), task=q.task)
        for i, (text, p, lab) in enumerate(zip(queries, prompts, labels, strict=True))
    ]
    out = await score_batch(dispatcher, settings, ScoreRequest(items=items, options=q.options), request.app.state.registry)
    results = out["results"]
    rewards = [float(r["reward"]) if r["reward"] is not None else q.failure_reward for r in results]
    extra = {
        "correct": [1.0 if r["verdict"] == "correct" else 0.0 for r in results],
        "undecided": [1.0 if r["verdict"] in FAILURE_VERDICTS else 0.0 for r in results],
        **_numeric_terms(results),
    }
    return {
        "rewards": rewards,
        "scores": extra["correct"],
        "extra_logs": extra,
        "verdicts": [r["verdict"] for r in results],
    }


class SlimeRequest(BaseModel):
    """slime's remote reward body (slime/rollout/rm_hub/__init__.py remote_rm: {"prompt", "response", "label"})."""

    model_config = ConfigDict(extra="ignore")
    prompt: Any = None
    response: str
    label: Any = None


@router.post("/slime/reward", operation_id="slime_reward")
async def slime_reward(
    req: SlimeRequest,
    request: Request,
    response: Response,
    dispatcher: DispatcherDep,
    settings: SettingsDep,
    q: TrainerQueryDep,
    detail: bool = Query(False, description="Return a dict (use slime's --reward-key score) instead of a number."),
) -> Any:
    """slime `--rm-type remote_rm --rm-url http://HOST:PORT/slime/reward`: a number (or a dict with `detail=true`)."""
    if req.label is None:
        raise InvalidInput("label (the ground truth) is required", field="label")
    item = item_from_label(req.response, req.label, task=q.task)
    out = await score_batch(dispatcher, settings, ScoreRequest(items=[item], options=q.options), request.app.state.registry)
    [res] = out["results"]
    response.headers["X-Verirl-Verdict"] = res["verdict"]
    score = float(res["reward"]) if res["reward"] is not None else q.failure_reward
    if not detail:
        return score
    return {
        "score": score,
        "verdict": res["verdict"],
        "extracted": res.get("extracted"),
        "breakdown": (res.get("details") or {}).get("reward_breakdown", {}),
        "error": (res.get("details") or {}).get("error"),
    }
