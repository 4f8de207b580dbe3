"""The wire format of verirl: request and response bodies of the HTTP API.

These pydantic models are shared by the service (validation, OpenAPI), the
workers (the queue payloads are their ``model_dump()``) and the client.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

Task = Literal["math", "code", "instruction", "qa"]
Verdict = Literal["correct", "incorrect", "no_answer", "timeout", "error"]
#: Verdicts that mean "we could not decide", never "the model was wrong".
FAILURE_VERDICTS: frozenset[str] = frozenset({"timeout", "error"})


def _number_as_text(v: Any) -> Any:
    """A JSON number as a gold answer (``"answer": 2``) is its decimal text, as the trainer integrations send it."""
    if isinstance(v, bool):
        raise ValueError("a boolean is not an answer; send the answer as a string")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("the answer must be a finite number or a string")
        return repr(v)
    if isinstance(v, str):
        return v
    raise ValueError("the answer must be a string or a number (or, for QA, a list of them)")


def _answer(v: Any) -> Any:
    """One error, on the ``answer`` field itself, for anything but text, numbers or a list of them."""
    if isinstance(v, list):
        return [_number_as_text(x) for x in v]
    return _number_as_text(v)


#: A ground-truth answer: a string (QA: or a list of acceptable ones); a JSON number is taken as its text.
Answer = Annotated[str | list[str], BeforeValidator(_answer)]
#: One answer as text (a registered problem's); a JSON number is taken as its text.
AnswerText = Annotated[str, BeforeValidator(_number_as_text)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreOptions(_Strict):
    """Options for a whole request; an item's own ``options`` override them."""

    timeout_s: float | None = Field(
        None, gt=0, le=600, description="Budget for one item, in seconds (server default if unset)."
    )
    deadline_s: float | None = Field(
        None,
        gt=0,
        le=3600,
        description="The request returns by this many seconds; unfinished items get `timeout`.",
    )
    extract: list[Literal["boxed", "answer_tag", "final_answer", "answer_line", "last_number"]] | None = Field(
        None,
        description="Answer-extraction strategies, tried in order (default: boxed, answer_tag, final_answer, answer_line).",
    )
    think: Literal["required", "strip", "ignore"] = Field(
        "strip",
        description="`strip`: grade only what follows </think> (an unclosed <think> means no answer). "
        "`required`: like strip, and no </think> means no answer. `ignore`: grade the whole text.",
    )
    rel_tol: float | None = Field(
        None, ge=0, le=1, description="Relative tolerance for float answers (default 1e-6 when either side is a float)."
    )
    failure_reward: float | None = Field(
        None, description="Reward reported for `timeout`/`error` verdicts (default null: no reward)."
    )
    reward: dict[str, Any] | str | None = Field(
        None, description="Reward spec object, or a preset name: accuracy, r1, dapo, cosine (see README: reward shaping)."
    )
    # code
    time_limit_s: float | None = Field(None, gt=0, le=60, description="Code: CPU-time limit per test, seconds.")
    memory_mb: int | None = Field(None, ge=16, le=8192, description="Code: memory limit per run, MiB.")
    stop_on_first_failure: bool | None = Field(None, description="Code: stop at the first failing test.")
    max_tests: int | None = Field(None, ge=1, le=10_000, description="Code: run at most this many tests.")
    network: Literal["none", "loopback"] | None = Field(
        None, description="Code: `loopback` gives each run a working loopback in its own network namespace "
        "(programs that serve and connect to themselves); default `none` (no network at all)."
    )
    code_reward: Literal["all_or_nothing", "fraction"] | None = Field(
        None, description="Code: reward 1 only when all tests pass, or the fraction passed."
    )
    # instruction
    if_reward: Literal["all", "fraction"] | None = Field(
        None, description="Instruction: reward 1 only when every constraint passes (`all`, default), or the fraction passed."
    )
    if_check: Literal["strict", "loose"] | None = Field(
        None, description="Instruction: grade the strict (default) or loose IFEval result of each constraint."
    )
    # qa
    qa_match: Literal["exact", "f1"] | None = Field(
        None, description="QA: normalised exact match (default) or token F1 against the best gold."
    )
    f1_threshold: float | None = Field(
        None, ge=0, le=1, description="QA with qa_match=f1: correct when F1 >= this (default 0.8)."
    )


class LabelError(_Strict):
    """A label the caller found unusable (a trainer integration: missing, empty, unparseable)."""

    field: str = Field(..., max_length=256, description="Where the label came from (e.g. `label`, `ground_truth`).")
    message: str = Field(..., max_length=2000, description="What is wrong with it and how to fix it.")


class ScoreItem(_Strict):
    """One model completion to grade."""

    id: str | None = Field(None, max_length=256, description="Caller's id, echoed back.")
    task: Task = "math"
    completion: str = Field(..., description="The model output to grade.")
    answer: Answer | None = Field(
        None,
        description="Math: the ground-truth answer. QA: the gold answer or a list of acceptable golds. "
        "Instruction: an open-instruct ground truth (JSON or Python-literal string) when `constraints` is absent. "
        "A number is taken as its text.",
    )
    tests: dict[str, Any] | None = Field(None, description="Code: the tests (see README).")
    constraints: dict[str, Any] | list[Any] | str | None = Field(
        None,
        description='Instruction: {"instruction_id_list": [...], "kwargs": [{...}, ...]} (IFEval/IFBench), '
        "or an open-instruct ground truth (see README: instruction following).",
    )
    language: str | None = Field(None, max_length=32, description="Code: language of the program.")
    problem_id: str | None = Field(None, max_length=256, description="A registered problem (ground truth, stats).")
    group: str | None = Field(None, max_length=256, description="Rollouts of one prompt share a group.")
    policy: str | None = Field(None, max_length=256, description="Model tag for difficulty statistics.")
    prompt: str | None = Field(None, description="Optional prompt text (for format/length shaping).")
    num_tokens: int | None = Field(None, ge=0, description="Completion length in tokens, if known.")
    options: ScoreOptions | None = None
    label_error: LabelError | None = Field(
        None,
        description="Set by a client that found the item's label unusable (the verl and TRL integrations do): "
        "the item is not graded; it gets verdict `error` with `details.error.code = \"invalid_label\"` and this "
        "message, and is counted in `verirl_label_errors_total`.",
    )


class ScoreRequest(BaseModel):
    """Body of POST /v1/score and POST /v1/jobs.

    ``items`` is validated one item at a time so that a bad item is reported in
    its own result and never fails the batch.
    """

    model_config = ConfigDict(extra="forbid")
    items: list[Any] = Field(..., min_length=1, description="Items to grade (objects; see ScoreItem).")
    options: ScoreOptions | None = None


class ItemResult(BaseModel):
    id: str | None = None
    reward: float | None = Field(..., description="Total reward; null for timeout/error unless failure_reward is set.")
    verdict: Verdict
    extracted: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    difficulty: dict[str, Any] | None = Field(
        None, description="Statistics of the item's problem_id after this grading (see README: difficulty)."
    )


class GroupStats(BaseModel):
    size: int
    mean: float | None
    std: float | None
    pass_rate: float
    zero_variance: bool
    failures: int = 0


class ScoreResponse(BaseModel):
    results: list[ItemResult]
    stats: dict[str, Any]
    groups: dict[str, GroupStats] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class JobAccepted(BaseModel):
    job_id: str
    status: str
    items: int


class JobStatus(BaseModel):
    job_id: str
    status: Literal["queued", "running", "done", "failed"]
    items: int
    created_at: float
    finished_at: float | None = None
    result: ScoreResponse | None = None
    error: ErrorBody | None = Field(None, description="Why a failed job failed.")


class ProblemIn(_Strict):
    """One problem to register."""

    id: str | None = Field(None, min_length=1, max_length=256, description="Caller's id (default: derived from the text).")
    text: str = Field(..., min_length=1, max_length=200_000)
    answer: AnswerText | None = Field(None, max_length=10_000, description="Math: the ground-truth answer (a number is taken as its text).")
    tests: dict[str, Any] | None = Field(None, description="Code: the tests (see README: code).")
    language: str | None = Field(None, max_length=32)
    task: Task | None = None
    source: str | None = Field(None, max_length=256)
    meta: dict[str, Any] = Field(default_factory=dict)


class RegisterRequest(BaseModel):
    """Body of POST /v1/problems; each problem is validated on its own."""

    model_config = ConfigDict(extra="forbid")
    problems: list[Any] = Field(..., min_length=1)
    threshold: float | None = Field(None, ge=0.5, le=1.0, description="Near-duplicate threshold for this call.")


class BenchmarkItem(_Strict):
    id: str | int
    text: str = Field(..., min_length=1, max_length=200_000)


class BenchmarkRequest(_Strict):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    items: list[BenchmarkItem] = Field(..., min_length=1, max_length=200_000)


class ErrorResponse(BaseModel):
    """The one shape of every 4xx/5xx answer."""

    error: ErrorBody
