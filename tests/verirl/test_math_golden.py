"""The math grader against the golden table (tests/verirl/golden_math.py) and the shared data set."""

from __future__ import annotations

import pytest

from tests.helpers import KNOWN_LABEL_ERRORS
from tests.verirl.golden_math import GOLDEN, HELD_OUT
from verirl.math_grader import grade


def _ids(table):
    return [f"{cat}-{i}" for i, (cat, *_rest) in enumerate(table)]


@pytest.mark.parametrize(("cat", "gold", "completion", "expected", "note"), GOLDEN, ids=_ids(GOLDEN))
def test_golden(cat, gold, completion, expected, note):
    res = grade(completion, gold)
    assert res.verdict == expected, (res, note)


@pytest.mark.parametrize(("cat", "gold", "completion", "expected", "note"), HELD_OUT, ids=_ids(HELD_OUT))
def test_held_out(cat, gold, completion, expected, note):
    res = grade(completion, gold)
    assert res.verdict == expected, (res, note)


def test_table_size_and_coverage():
    assert len(GOLDEN) + len(HELD_OUT) >= 250
    cats = {c for c, *_ in GOLDEN}
    for needed in ("integer", "decimal", "fraction", "percent", "scientific", "radical", "pi", "expression",
                   "equation", "tuple", "set", "interval", "inequality", "matrix", "complex", "noise",
                   "choice", "word", "extract", "think", "gaming"):
        assert needed in cats
    assert sum(1 for *_x, note in GOLDEN if note.startswith("mv:")) >= 8


def test_agreement_on_math_cot_100(math_cot_rows):
    disagree = []
    for r in math_cot_rows:
        for k, (c, s) in enumerate(zip(r["code"], r["score"], strict=True)):
            ok = grade(c, r["gt"]).verdict == "correct"
            if ok != s:
                disagree.append((r["idx"], k))
    assert set(disagree) == KNOWN_LABEL_ERRORS


def test_rel_tol_option():
    assert grade("\\boxed{3.14}", "3.14159", rel_tol=1e-3).verdict == "correct"
    assert grade("\\boxed{3.14}", "3.14159").verdict == "incorrect"


def test_extraction_strategy_option():
    assert grade("the value is 12", "12", strategies=["last_number"]).verdict == "correct"
    assert grade("the value is 12", "12").verdict == "no_answer"
    assert grade("<think>x</think>\\boxed{1}", "1", think="ignore").verdict == "correct"
    assert grade("\\boxed{1}", "1", think="required").verdict == "no_answer"
