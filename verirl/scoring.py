"""Grade one item: the function every verifier process runs.

Input is a plain dict (a validated :class:`verirl.schemas.ScoreItem` with its
effective ``options`` already merged in), output is a plain dict shaped like
:class:`verirl.schemas.ItemResult`. Plain JSON both ways, so the same payload
travels through the embedded pool and through RQ.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from verirl.schemas import FAILURE_VERDICTS

logging.getLogger("math_verify").setLevel(logging.ERROR)

DEFAULT_MATH_TIMEOUT_S = 10.0
_CODE_OVERHEAD_S = 5.0


def item_budget(item: dict, default_math_s: float = DEFAULT_MATH_TIMEOUT_S) -> float:
    """Seconds a verifier process may spend on ``item`` before it is killed."""
    opts = item.get("options") or {}
    if opts.get("timeout_s"):
        return float(opts["timeout_s"])
    if item.get("task") == "run_code":
        from verirl.code.grader import run_code_budget

        return run_code_budget(item["request"])
    if item.get("task") == "code":
        from verirl.code.grader import code_budget

        return code_budget(item) + _CODE_OVERHEAD_S
    return default_math_s


def failure_result(item: dict, verdict: str, message: str) -> dict:
    """The result of an item we could not decide (``timeout`` or ``error``)."""
    assert verdict in FAILURE_VERDICTS
    opts = item.get("options") or {}
    return {
        "id": item.get("id"),
        "reward": opts.get("failure_reward"),
        "verdict": verdict,
        "extracted": None,
        "details": {"error": message},
    }


def _grade_math(item: dict, opts: dict) -> tuple[str, str | None, dict[str, Any], float]:
    from verirl.math.grader import grade

    answer = item.get("answer")
    if answer is None:
        return "error", None, {"error": {"code": "invalid_label", "field": "answer",
                                         "message": "no ground-truth answer; set the item's answer (or the dataset's answer column)"}}, 0.0
    r = grade(
        item["completion"],
        answer,
        strategies=opts.get("extract"),
        think=opts.get("think") or "strip",
        rel_tol=opts.get("rel_tol"),
    )
    details: dict[str, Any] = {"layer": r.layer}
    if r.reason:
        details["reason"] = r.reason
    details.update(r.details)
    return r.verdict, r.extracted, details, 1.0 if r.verdict == "correct" else 0.0


def _grade_code(item: dict, opts: dict) -> tuple[str, str | None, dict[str, Any], float]:
    from verirl.code.grader import grade_code

    return grade_code(item, opts)


def _grade_instruction(item: dict, opts: dict) -> tuple[str, str | None, dict[str, Any], float]:
    from verirl.instruction.grader import grade

    return grade(item, opts)


def _grade_qa(item: dict, opts: dict) -> tuple[str, str | None, dict[str, Any], float]:
    from verirl.qa import grade

    return grade(item, opts)


_GRADERS = {"math": _grade_math, "code": _grade_code, "instruction": _grade_instruction, "qa": _grade_qa}


def score_item(item: dict) -> dict:
    """Grade one item and shape its reward."""
    from verirl.rewards import shape_reward

    t0 = time.perf_counter()
    opts = item.get("options") or {}
    if item.get("task") == "isolation_report":  # what this verifier's sandbox provides (for /v1/info)
        from verirl.code.grader import isolation_report

        return {"id": None, "reward": None, "verdict": "correct", "extracted": None, "details": {"isolation": isolation_report()}}
    if item.get("task") == "run_code":  # SandboxFusion-compatible raw run
        from verirl.code.grader import run_code

        return {"id": item.get("id"), "reward": None, "verdict": "correct", "extracted": None, "details": {"run_code": run_code(item["request"])}}
    grader = _GRADERS.get(item.get("task", "math"))
    if grader is None:
        return failure_result(item, "error", f"unknown task {item.get('task')!r}")
    if item.get("too_long"):  # over the service's completion cap (VERIRL_MAX_COMPLETION_CHARS): the model's, not ours
        n = item["too_long"]
        verdict, extracted, accuracy = "incorrect", None, 0.0
        details = {"reason": "too_long", "message": f"the completion has {n['chars']} characters; at most {n['max']} are graded"}
    else:
        verdict, extracted, details, accuracy = grader(item, opts)
    if verdict in FAILURE_VERDICTS:
        out = failure_result(item, verdict, details.get("error", verdict))
        out["details"].update(details)
        out["details"]["verify_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        return out
    reward, breakdown = shape_reward(item, verdict, accuracy, opts.get("reward"))
    details["reward_breakdown"] = breakdown
    details["verify_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    return {
        "id": item.get("id"),
        "reward": reward,
        "verdict": verdict,
        "extracted": extracted,
        "details": details,
    }
