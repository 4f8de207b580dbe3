"""prepare_items: a plain math item (strings only) is prepared without building a model, and
must come out exactly as the model path prepares it; anything else goes through the model."""

from __future__ import annotations

import pytest

from verirl.batch import _plain_math, prepare_items, request_base
from verirl.schemas import ScoreItem, ScoreOptions

LIMITS = {"max_completion_chars": 50, "max_answer_chars": 10}

ITEMS = [
    {"completion": "\\boxed{2}", "answer": "2"},
    {"completion": "\\boxed{2}", "answer": "2", "task": "math", "id": "a", "group": "g", "policy": "p", "problem_id": "x", "prompt": "q"},
    {"id": "z", "completion": "x" * 51, "answer": "2"},  # over the completion cap: too_long
    {"completion": "\\boxed{2}", "answer": "2", "prompt": None, "id": None},
]
NOT_PLAIN = [
    {"completion": "\\boxed{2}", "answer": 2},  # a number: the model turns it into text
    {"completion": "\\boxed{2}", "answer": "2", "id": "i" * 257},  # too long: the model names the field
    {"completion": "\\boxed{2}", "answer": "12345678901"},  # over the answer cap
    {"completion": "\\boxed{2}", "answer": "2", "options": {"timeout_s": 1}},
    {"completion": "\\boxed{2}", "answer": "2", "task": "qa"},
    {"completion": 2, "answer": "2"},
    {"completion": "\\boxed{2}", "answer": "2", "num_tokens": 3},
]


def _model_path(raw: dict, base: dict) -> dict:
    item = ScoreItem.model_validate(raw)
    data = item.model_dump(exclude_none=True, exclude={"options", "label_error"})
    data["options"] = dict(base)
    if len(item.completion) > LIMITS["max_completion_chars"]:
        data["too_long"] = {"chars": len(item.completion), "max": LIMITS["max_completion_chars"]}
        data["completion"] = ""
    return data


@pytest.mark.parametrize("raw", ITEMS, ids=repr)
def test_plain_items_prepare_as_the_model_does(raw: dict) -> None:
    base = request_base(ScoreOptions(failure_reward=-1.0, reward="dapo"))
    assert _plain_math(raw, 50, 10) is not None
    [got], [err] = prepare_items([raw], None, **LIMITS, base=base)
    want = _model_path(raw, base)
    assert err is None and got == want and list(got) == list(want)  # same keys, same order


@pytest.mark.parametrize("raw", NOT_PLAIN, ids=repr)
def test_other_items_go_through_the_model(raw: dict) -> None:
    assert _plain_math(raw, 50, 10) is None


def test_a_reported_label_error_is_a_verdict_not_graded() -> None:
    raw = {"id": "3", "completion": "x", "label_error": {"field": "ground_truth", "message": "the label is empty: fix it"}}
    [got], [err] = prepare_items([raw], None, **LIMITS, base={"failure_reward": 0.0})
    assert got is None
    assert err == {"id": "3", "reward": 0.0, "verdict": "error", "extracted": None,
                   "details": {"error": {"code": "invalid_label", "field": "ground_truth", "message": "the label is empty: fix it"}}}
