"""Policy rule 13: an answer too costly to settle is `incorrect` (reason `answer_too_costly`), never `timeout`.

Issue 19's list first (each was verdict `timeout`, a null reward a policy could aim for under DAPO's -1/+1),
then generated variants: towers of every height and base, huge powers in every position, sums and products
with huge bounds, deep nesting. Each is graded by the real verifier pool with a generous item budget: the
answer's own budget (about a second of CPU) must decide, not the item's kill deadline.
"""

from __future__ import annotations

import itertools

import pytest

from verirl.math.cost import too_costly
from verirl.math.grader import grade
from verirl.pool import VerifierPool
from verirl.rewards import validate_spec
from verirl.scoring import score_item

ISSUE_19 = [
    r"e^{e^{e^{e^{e}}}}",
    r"\sum_{k=1}^{10^{12}} k",
    r"\prod_{k=1}^{10^9} k",
    r"\int_0^1 e^{x^{x^x}} dx",
    r"\lim_{x\to 0} \frac{\sin(\sin(\sin(x)))-x}{x^3}",
    r"\gcd(10^{10^6},3)",
    r"\sin(10^{10^5})",
    "(" * 300 + "1" + ")" * 300,
    r"9^{9^{9^{9}}}",
]

VARIANTS = (
    [f"{b}^{{{b}^{{{b}^{{{b}^{{{b}}}}}}}}}" for b in ("2", "3", "e", "x", "\\pi", "(1+x)")]
    + [f"{w}{{10^{{10^{{{k}}}}}}}" for w, k in itertools.product(("", "\\sqrt", "\\ln", "\\cos", "\\tan", "\\lfloor"), (5, 6, 8))
       if w != "\\lfloor"]
    + [f"\\{op}_{{k=1}}^{{{n}}} {body}" for op in ("sum", "prod") for n in ("10^{9}", "10^{100}", "99999999") for body in ("k", "\\frac{1}{k}")]
    + [f"(1+x)^{{{n}}}" for n in (10**5, 10**7, "10^{8}")]
    + ["[" * 80 + "x" + "]" * 80, "\\frac{" * 60 + "1" + "}{2}" * 60]
    + [r"\frac{10^{10^6}}{10^{10^6}-1}", r"10^{10^{7}}+1", r"\lfloor 10^{10^5}\pi \rfloor", r"x^{10^{9}}", r"2^{10^{9}} \bmod 7"]
)


@pytest.fixture(scope="module")
def pool():
    p = VerifierPool(2)
    yield p
    p.close()


@pytest.mark.parametrize("gold", ["7", r"\frac{\pi}{4}", "x^2+1"])
def test_costly_answers_are_incorrect_never_timeout(pool, gold):
    items = [{"task": "math", "completion": f"The answer is $\\boxed{{{a}}}$.", "answer": gold,
              "options": {"timeout_s": 60, "reward": validate_spec("dapo")}} for a in ISSUE_19 + VARIANTS]
    results = pool.map(items, [60.0] * len(items))
    bad = [(it["completion"][:60], r["verdict"], r["details"].get("reason")) for it, r in zip(items, results) if r["verdict"] != "incorrect"]
    assert not bad, bad
    assert all(r["reward"] == -1.0 for r in results)  # DAPO: a wrong answer's -1, never the null's 0


def test_the_precheck_names_what_it_refused():
    assert too_costly(r"e^{e^{e^{e^{e}}}}") == "a power tower"
    assert "digits" in too_costly(r"\gcd(10^{10^6},3)")
    assert "terms" in too_costly(r"\sum_{k=1}^{10^{12}} k")
    assert "nested" in too_costly("(" * 300 + "1" + ")" * 300)
    assert "series" in too_costly(r"\sum_{n=1}^{\infty} \frac{1}{n^2}")  # deterministic: never a race with the budget
    assert "integral" in too_costly(r"\int_0^1 x \, dx")
    assert too_costly(r"\sum_{k=1}^{3} k^{2}") is None


def test_the_cpu_budget_decides_what_the_precheck_lets_through():
    # passes every precheck (small exponents, no operators) but sympy's expansion runs for seconds
    assert too_costly(r"(x+y+z+1)^{60}") is None
    r = score_item({"task": "math", "completion": r"\boxed{(x+y+z+1)^{60}}", "answer": "x^2+1",
                    "options": {"timeout_s": 60, "reward": validate_spec("dapo")}})
    assert (r["verdict"], r["details"]["reason"], r["reward"]) == ("incorrect", "answer_too_costly", -1.0), r
    assert "CPU" in r["details"]["cost"]


@pytest.mark.parametrize(
    "answer, gold",
    [(r"2^{2^{2^{2}}}", "65536"), (r"4^{1012}", r"2^{2024}"), (r"\sum_{k=1}^{3} k", "6"),
     (r"10^{100}", r"10^{100}"), (r"(x+1)^{2}", "x^2+2x+1"),
     (r"\binom{10}{3}", "120"), (r"5!", "120"), (r"10^{10^{7}}", r"10^{10^7}")],
)
def test_cheap_forms_of_the_right_answer_stay_correct(answer, gold):
    r = grade(f"\\boxed{{{answer}}}", gold)
    assert r.verdict == "correct", (answer, gold, r)


def test_a_costly_answer_is_decided_by_the_answer_budget_through_score_item():
    r = score_item({"task": "math", "completion": r"\boxed{\int_0^1 e^{x^{x^{x}}} \, dx + \lim_{n\to\infty} (1+1/n)^{n^2}}",
                    "answer": "7", "options": {"reward": validate_spec("dapo")}})
    assert r["verdict"] == "incorrect" and r["reward"] == -1.0, r
