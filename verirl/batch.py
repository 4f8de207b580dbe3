"""A batch of items: validate each one on its own, and summarise the results.

One bad item never fails its batch: :func:`prepare_items` turns it into an
``error`` result naming the bad field, and the others go on to be graded.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from pydantic import ValidationError

from verirl.errors import InvalidInput
from verirl.rewards import validate_spec
from verirl.schemas import FAILURE_VERDICTS, ScoreItem, ScoreOptions


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("items", 3, "answer")`` -> ``items[3].answer``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _invalid(index: int, raw: Any, field: str, message: str, options: dict) -> dict:
    rid = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
    return {
        "id": rid,
        "reward": options.get("failure_reward"),
        "verdict": "error",
        "extracted": None,
        "details": {"error": {"code": "invalid_item", "field": field, "message": message}},
    }


def request_base(request_options: ScoreOptions | None, default_reward: dict[str, Any] | None = None) -> dict[str, Any]:
    """The options every item of a request starts from (its own ``options`` override them).
    Raises InvalidInput for a bad request-wide reward spec (a request error)."""
    base = request_options.model_dump(exclude_none=True) if request_options else {}
    if "reward" in base:
        base["reward"] = validate_spec(base["reward"])
    elif default_reward is not None:
        base["reward"] = default_reward
    return base


#: ScoreItem's string fields of at most 256 characters, in its field order.
_SHORT = ("id", "problem_id", "group", "policy")
_PLAIN_KEYS = frozenset({"id", "task", "completion", "answer", "problem_id", "group", "policy", "prompt"})


def _plain_math(raw: dict, max_completion_chars: int, max_answer_chars: int) -> dict | None:
    """A math item made only of strings (what trainers and most callers send), prepared
    without building a model: the same dict ``ScoreItem.model_validate(raw).model_dump(
    exclude_none=True)`` gives, in the same key order. None for anything else (the model
    then validates it, and names any bad field)."""
    if not raw.keys() <= _PLAIN_KEYS:
        return None
    task = raw.get("task", "math")
    completion, answer = raw.get("completion"), raw.get("answer")
    if task != "math" or type(completion) is not str or type(answer) is not str or len(answer) > max_answer_chars:
        return None
    for k in _SHORT:
        v = raw.get(k)
        if v is not None and (type(v) is not str or len(v) > 256):
            return None
    prompt = raw.get("prompt")
    if prompt is not None and type(prompt) is not str:
        return None
    data: dict[str, Any] = {}
    if raw.get("id") is not None:
        data["id"] = raw["id"]
    data["task"] = "math"
    data["completion"] = completion
    data["answer"] = answer
    for k in ("problem_id", "group", "policy", "prompt"):
        if raw.get(k) is not None:
            data[k] = raw[k]
    if len(completion) > max_completion_chars:
        data["too_long"] = {"chars": len(completion), "max": max_completion_chars}
        data["completion"] = ""
    return data


def prepare_items(
    raw_items: list[Any],
    request_options: ScoreOptions | None,
    *,
    max_completion_chars: int,
    max_answer_chars: int,
    default_reward: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
) -> tuple[list[dict | None], list[dict | None]]:
    """Validate items one by one.

    Returns two lists as long as ``raw_items``: the prepared item (plain dict,
    options merged) or None, and the ready-made error result or None. ``base``:
    :func:`request_base` of the options, when the caller has it already.
    """
    if base is None:
        base = request_base(request_options, default_reward)
    prepared: list[dict | None] = []
    errors: list[dict | None] = []
    for i, raw in enumerate(raw_items):
        if type(raw) is dict:
            plain = _plain_math(raw, max_completion_chars, max_answer_chars)
            if plain is not None:
                plain["options"] = dict(base)
                if "too_long" in plain:  # keep the key order of the general path (options first)
                    plain["too_long"] = plain.pop("too_long")
                prepared.append(plain)
                errors.append(None)
                continue
        prefix = f"items[{i}]"
        try:
            if not isinstance(raw, dict):
                raise InvalidInput("each item must be an object", field=prefix)
            item = ScoreItem.model_validate(raw)
            if item.label_error is not None:  # reported by the caller: a verdict, never graded
                prepared.append(None)
                errors.append({
                    "id": item.id, "reward": base.get("failure_reward"), "verdict": "error", "extracted": None,
                    "details": {"error": {"code": "invalid_label", "field": item.label_error.field,
                                          "message": item.label_error.message}},
                })
                continue
            opts = dict(base)
            if item.options is not None:
                opts.update(item.options.model_dump(exclude_none=True))
            if item.options is not None and item.options.reward is not None:
                try:
                    opts["reward"] = validate_spec(item.options.reward)
                except InvalidInput as exc:
                    raise InvalidInput(exc.message, field=f"{prefix}.{exc.field}") from None
            data = item.model_dump(exclude_none=True, exclude={"options", "label_error"})
            data["options"] = opts
            if len(item.completion) > max_completion_chars:
                # the model's doing, never a null reward: graded incorrect (reason too_long), not read
                data["too_long"] = {"chars": len(item.completion), "max": max_completion_chars}
                data["completion"] = ""
            if item.task in ("math", "code") and isinstance(data.get("answer"), list):
                raise InvalidInput("a list of answers is for qa items only", field=f"{prefix}.answer")
            if item.task == "math":
                if data.get("answer") is None:
                    raise InvalidInput("math items need `answer` (or a registered `problem_id`)", field=f"{prefix}.answer")
                if len(data["answer"]) > max_answer_chars:
                    raise InvalidInput(f"answer longer than {max_answer_chars} characters", field=f"{prefix}.answer")
            elif item.task == "code":
                if data.get("tests") is None:
                    raise InvalidInput("code items need `tests` (or a registered `problem_id`)", field=f"{prefix}.tests")
                from verirl.code.grader import validate_tests

                try:
                    validate_tests(data["tests"], data.get("language"))
                except InvalidInput as exc:
                    raise InvalidInput(exc.message, field=f"{prefix}.{exc.field or 'tests'}") from None
            elif item.task == "instruction":
                from verirl.instruction.grader import parse_constraints

                try:
                    parse_constraints(data.get("constraints"), data.get("answer"))
                except InvalidInput as exc:
                    raise InvalidInput(exc.message, field=f"{prefix}.{exc.field}") from None
            elif item.task == "qa":
                from verirl.qa import golds_of

                if not golds_of(data.get("answer")):
                    raise InvalidInput("qa items need `answer`: a string or a list of strings", field=f"{prefix}.answer")
                if sum(len(g) for g in golds_of(data["answer"])) > max_answer_chars:
                    raise InvalidInput(f"answers longer than {max_answer_chars} characters", field=f"{prefix}.answer")
            prepared.append(data)
            errors.append(None)
        except ValidationError as exc:
            err = exc.errors()[0]
            prepared.append(None)
            errors.append(_invalid(i, raw, f"{prefix}.{field_path(err['loc'])}" if err["loc"] else prefix, err["msg"], base))
        except InvalidInput as exc:
            prepared.append(None)
            errors.append(_invalid(i, raw, exc.field or prefix, exc.message, base))
    return prepared, errors


def group_stats(items: list[dict | None], results: list[dict]) -> dict[str, dict[str, Any]]:
    """Per ``group``: size, mean/std of reward, pass rate, zero_variance (DAPO dynamic sampling)."""
    groups: dict[str, list[dict]] = {}
    for item, res in zip(items, results, strict=True):
        g = (item or {}).get("group")
        if g is not None:
            groups.setdefault(g, []).append(res)
    out: dict[str, dict[str, Any]] = {}
    for g, rs in groups.items():
        rewards = [r["reward"] for r in rs if r["reward"] is not None and r["verdict"] not in FAILURE_VERDICTS]
        failures = sum(1 for r in rs if r["verdict"] in FAILURE_VERDICTS)
        mean = sum(rewards) / len(rewards) if rewards else None
        std = math.sqrt(sum((x - mean) ** 2 for x in rewards) / len(rewards)) if rewards and mean is not None else None
        out[g] = {
            "size": len(rs),
            "mean": mean,
            "std": std,
            "pass_rate": sum(1 for r in rs if r["verdict"] == "correct") / len(rs),
            "zero_variance": bool(rewards) and max(rewards) - min(rewards) < 1e-12,
            "failures": failures,
        }
    return out


def batch_stats(results: list[dict], seconds: float) -> dict[str, Any]:
    verdicts = Counter(r["verdict"] for r in results)
    rewards = [r["reward"] for r in results if r["reward"] is not None]
    return {
        "items": len(results),
        "verdicts": dict(verdicts),
        "failures": sum(verdicts[v] for v in FAILURE_VERDICTS),
        "mean_reward": (sum(rewards) / len(rewards)) if rewards else None,
        "seconds": round(seconds, 4),
    }
