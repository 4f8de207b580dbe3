"""The grading policy (../shared/MATH_POLICY.md), rule by rule, with the cases of issue 11."""

from __future__ import annotations

import pytest

from verirl.math.grader import grade

C, I, N, E = "correct", "incorrect", "no_answer", "error"

RULES: list[tuple[str, str, str, str]] = [
    # rule 1: explicit final answers only; the span of the form
    ("1", "7", "So the answer is 7.", C),
    ("1", "7", "The answer is $7$. Next we check.", C),
    ("1", "1000", "Total: 200 + 800.\n#### 1,000", C),
    ("1", "18", "#### 17\n#### 18", C),
    ("1", "18", "####: 18", C),
    ("1", "E", "Reasoning.\n**Answer: E**", C),
    ("1", "C", "Reasoning.\nFinal answer: **(C)**", C),
    ("1", "14916", "The final answer is $14{,}916$. I hope it is correct.", C),
    ("1", "7.78", "The final answer is 7.78.", C),
    ("1", "7.78", "The final answer is $7.78$. I hope it is correct.", C),
    ("1", "5", "答案是 5。", C),
    ("1", "5", "答案：5", C),
    ("1", "5", "la réponse est $5$.", C),
    ("1", "5", "Réponse : 5", C),
    ("1", "5", "Die Antwort ist 5.", C),
    ("1", "5", "La respuesta es 5.", C),
    ("1", "5", "Ответ: 5", C),
    ("1", "7", "We get 3 + 4 = 7.", N),
    ("1", "7", "It is probably 7", N),
    # rule 2: thinking
    ("2", "7", "<think>\\boxed{3}</think>The answer is 7.", C),
    ("2", "7", "<think>the answer is 7", N),
    ("2", "7", "<think>the answer is 7</think>", N),
    # rule 3: one answer
    ("3", "7", "\\boxed{7}, \\boxed{8}", I),
    ("3", "7", "The answer is 7 or 8.", I),
    ("3", "8", "The answer is 8 (or possibly 9).", I),
    ("3", "7", "\\boxed{\\pm 7}", I),
    ("3", "7", "\\boxed{7 \\pm 1}", I),
    ("3", "7", "\\boxed{[6, 8]}", I),
    ("3", "7", "\\boxed{\\{6, 7, 8\\}}", I),
    ("3", "B", "\\boxed{A, B, C, D, E}", I),
    ("3", "7", "\\boxed{}", I),
    ("3", "1, 2, 3", "\\boxed{1}, \\boxed{2}, \\boxed{3}", C),
    ("3", "\\{1,2,3\\}", "\\boxed{1}, \\boxed{2}, \\boxed{3}", C),
    ("3", "\\{1,2,3\\}", "\\boxed{1}, \\boxed{2}", I),
    ("3", "7", "First \\boxed{3}.\n\nWait, that is wrong. Redo: \\boxed{7}", C),
    # rule 4: numbers
    ("4", "0.5", "\\boxed{\\dfrac{2}{4}}", C),
    ("4", "\\frac{22}{7}", "\\boxed{3\\frac{1}{7}}", C),
    ("4", "\\frac{22}{7}", "\\boxed{3 1/7}", C),
    ("4", "1000", "\\boxed{1\\,000}", C),
    ("4", "1500", "\\boxed{1.5\\times10^{3}}", C),
    ("4", "1500", "\\boxed{1.5e3}", C),
    ("4", "34", "\\boxed{3 4}", I),
    ("4", "3 4", "\\boxed{34}", I),
    ("4", "\\frac{21}{2}", "\\boxed{2 1/2}", I),
    ("4", "2 1/2", "\\boxed{21/2}", I),
    ("4", "1125", "\\boxed{1, 125}", I),
    ("4", "1, 125", "\\boxed{1125}", I),
    ("4", "111", "\\boxed{0,111}", I),
    ("4", "1002", "\\boxed{1, 002}", I),
    ("4", "1000", "\\boxed{\\$1,000}", C),
    ("4", "16386.20", "The answer is $\\$16,\\!386.20$.", C),
    ("4", "1000.99", "\\boxed{1,000.99\\$}", C),
    ("4", "\\frac{1}{3}", "\\boxed{0.333333}", C),
    ("4", "\\frac{1}{3}", "\\boxed{0.333}", I),
    ("4", "\\pi", "\\boxed{3.14}", I),
    ("4", "\\sqrt{2}", "\\boxed{1.41}", I),
    ("4", "100000", "\\boxed{100001}", I),
    ("4", "\\frac{1}{3^{40}}", "\\boxed{\\frac{1}{3^{41}}}", I),
    ("4", "3^{-40}", "\\boxed{3^{-41}}", I),
    ("4", "3^{-40}", "\\boxed{\\frac{1}{3^{40}}}", C),
    # rule 5: percent
    ("5", "25\\%", "\\boxed{25}", C),
    ("5", "25\\%", "\\boxed{0.25}", C),
    ("5", "25\\%", "\\boxed{\\frac{1}{4}}", C),
    ("5", "12.5\\%", "The answer is 12.5 percent.", C),
    ("5", "8\\%", "\\boxed{\\frac{2}{25}}", C),
    ("5", "1.5", "\\boxed{150\\%}", C),
    ("5", "0.25", "\\boxed{25}", I),
    ("5", "25", "\\boxed{0.25}", I),
    ("5", "25\\%", "\\boxed{0.25\\%}", I),
    # rule 6: units
    ("6", "45", "\\boxed{45^\\circ}", C),
    ("6", "12.5", "\\boxed{\\$12.50}", C),
    ("6", "1250", "\\boxed{\\$1,250}", C),
    ("6", "5", "\\boxed{5\\text{ cm}}", C),
    # rule 7: sets, lists, tuples
    ("7", "\\{1,2\\}", "\\boxed{\\{2,1\\}}", C),
    ("7", "(1,2)", "\\boxed{(2,1)}", I),
    ("7", "(1,2)", "\\boxed{x=1, y=2}", C),
    ("7", "(1,2)", "\\boxed{x=2, y=1}", I),
    ("7", "\\emptyset", "\\boxed{\\varnothing}", C),
    ("7", "\\varnothing", "\\boxed{\\{\\}}", C),
    ("7", "\\emptyset", "The answer is no solution.", C),
    ("7", "\\emptyset", "\\boxed{0}", I),
    # rule 8: intervals and inequalities, both ways
    ("8", "(0,\\infty)", "\\boxed{x>0}", C),
    ("8", "x>0", "\\boxed{(0,\\infty)}", C),
    ("8", "(-3,3)", "\\boxed{-3<x<3}", C),
    ("8", "-3<x<3", "\\boxed{(-3,3)}", C),
    ("8", "[-1,\\infty)", "\\boxed{x\\ge -1}", C),
    ("8", "[-1,\\infty)", "\\boxed{x > -1}", I),
    ("8", "(-\\infty,-2]\\cup[2,\\infty)", "\\boxed{x\\le-2 \\text{ or } x\\ge 2}", C),
    ("8", "x\\le-2 \\text{ or } x\\ge 2", "\\boxed{[2,\\infty)\\cup(-\\infty,-2]}", C),
    ("8", "(-\\infty,-2]\\cup[2,\\infty)", "\\boxed{(-\\infty,-2)\\cup[2,\\infty)}", I),
    ("8", "[1,5]", "\\boxed{(1,5]}", I),
    # rule 9: equations
    ("9", "3", "\\boxed{x = 3}", C),
    ("9", "y=2x+1", "\\boxed{2x-y+1=0}", C),
    ("9", "y=2x+1", "\\boxed{2x-y-1=0}", I),
    # rule 10: complex numbers and matrices
    ("10", "-1", "\\boxed{i^2}", C),
    ("10", "\\frac{1+i}{2}", "\\boxed{0.5+0.5i}", C),
    ("10", "\\frac{1+i}{2}", "\\boxed{0.5-0.5i}", I),
    ("10", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\boxed{\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}}", C),
    ("10", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\boxed{\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}}", I),
    # rule 11: multiple choice
    ("11", "C", "\\boxed{C. x = 42}", C),
    ("11", "C", "\\boxed{(C) x = 42}", C),
    ("11", "B", "\\boxed{\\mathcal{B}}", C),
    ("11", "B", "\\boxed{\\textbf{(B)}}", C),
    ("11", "B", "\\boxed{b}", C),
    ("11", "A", "\\boxed{A or D}", I),
    ("11", "A", "\\boxed{A, D}", I),
    # rule 12: text
    ("12", "Monday", "\\boxed{\\text{monday}}", C),
    ("12", "even", "\\boxed{odd}", I),
    # rule 13: pathological answers never hang here (the process deadline is the pool's)
    ("13", "7", "\\boxed{" + "+".join(["1"] * 3000) + "}", I),
    ("13", "7", "The answer is $9^{9^{9^{9}}}$.", I),
    ("13", "1024", "\\boxed{10^{10^{10}}}", I),
    ("13", "1024", "\\boxed{2^{10}}", C),
]

# Correct rows whose digit mutants keep the value (gcd(14, 91) = 7, 7_{13} = 7): outside RULES,
# which seeds the mutant tests.
UNMUTATED = [("7", "\\boxed{\\gcd(14, 21)}"), ("7", "\\boxed{7_{10}}"), ("4", "\\boxed{100_2}")]


@pytest.mark.parametrize(("gold", "completion"), UNMUTATED)
def test_values_whose_digit_mutants_keep_them(gold, completion):
    assert grade(completion, gold).verdict == C


@pytest.mark.parametrize(("rule", "gold", "completion", "expected"), RULES, ids=[f"rule{r}-{i}" for i, (r, *_x) in enumerate(RULES)])
def test_policy(rule, gold, completion, expected):
    res = grade(completion, gold)
    assert res.verdict == expected, res


@pytest.mark.parametrize("gold", ["", "   ", "\n", "\\boxed{}", "$$", "\\frac{1}{", "()"])
def test_bad_label_is_error_not_incorrect(gold):
    res = grade("The answer is \\boxed{7}.", gold)
    assert res.verdict == "error"
    err = res.details["error"]
    assert err["code"] == "invalid_label" and err["field"].endswith("answer")
    assert "answer" in err["message"]


def test_bad_label_through_scoring():
    from verirl.scoring import score_item

    out = score_item({"task": "math", "completion": "\\boxed{7}", "answer": ""})
    assert out["verdict"] == "error" and out["reward"] is None
    assert out["details"]["error"]["code"] == "invalid_label"


def _adversarial_rows():
    import json
    from pathlib import Path

    path = Path(__file__).parent / "data" / "adversarial_math.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("row", _adversarial_rows(), ids=lambda r: f"rule{r['rule']}")
def test_fresh_adversarial_batch(row):
    """Cases written from the policy text after the grader was built (issue 11's own-adversary batch)."""
    res = grade(row["completion"], row["gold"])
    assert res.verdict == row["expected"], res


def test_missing_label_through_scoring():
    from verirl.scoring import score_item

    out = score_item({"task": "math", "completion": "\\boxed{7}"})
    assert out["verdict"] == "error" and out["details"]["error"]["code"] == "invalid_label"


# The outside tester's disagreements (source: "outside probe 2026-12-01"), fixed in the grader:
# (pattern, gold, completion, expected). A: the span of an unboxed answer ends at its clause;
# B: a MATH thousands gold (50,\!625) is one number, "50, 625" two values; C: "%" is x1/100
# against a gold without "%"; D: a gold written as a terminating decimal is exact; FN 1/5/6 and
# the empty box.
_PROBE = "We first set up the problem and simplify.\n\nNow we compute carefully and verify the arithmetic.\n\n"
OUTSIDE_PROBE: list[tuple[str, str, str, str]] = [
    ("A", "42", _PROBE + "I think the answer is probably 41 but let me recompute: 6*7=42", I),
    ("A", "42", _PROBE + "I think the answer is 41 but let me recompute: 6*7=42", I),
    ("A", "42", _PROBE + "The answer is 12 when x=42.", I),
    ("A", "42", _PROBE + "The answer is 12 when x=42", I),
    ("A", "6", _PROBE + "The answer is 5 but if rounding it is 6", I),
    ("A", "6", _PROBE + "The answer is 5 but if rounding it is 6.", I),
    ("A", "6", _PROBE + "The answer is 5 but it is 6", I),
    ("A", "42", _PROBE + "The answer is 41, but maybe 42.", I),
    ("A", "2", _PROBE + "Answer: 9 (the case y = 2 gives the maximum).", I),
    ("A", "9", _PROBE + "Answer: 9 (the case y = 2 gives the maximum).", C),
    ("A", "4", _PROBE + "Answer: the minimum is 3 at x=4", I),
    ("A", "3", _PROBE + "The answer is 3 at x=4", C),
    ("B", "50,\\!625", _PROBE + "Therefore, the answer is $\\boxed{50, 625}$.", I),
    ("B", "3,\\!250", _PROBE + "Therefore, the answer is $\\boxed{3, 250}$.", I),
    ("B", "1,\\!125", _PROBE + "Therefore, the answer is $\\boxed{1, 125}$.", I),
    ("B", "900,\\!000,\\!000", _PROBE + "Therefore, the answer is $\\boxed{900, 000, 000}$.", I),
    ("B", "50,\\!625", "\\boxed{50,625}", C),
    ("B", "50,\\!625", "\\boxed{50{,}625}", C),
    ("B", "50,\\!625", "\\boxed{50625}", C),
    ("C", "25", _PROBE + "Therefore, the answer is $\\boxed{25\\%}$.", C),
    ("C", "25", _PROBE + "#### 25%", C),
    ("C", "50", _PROBE + "Therefore, the answer is $\\boxed{50\\%}$.", C),
    ("C", "0.25", "\\boxed{25\\%}", C),
    ("C", "25\\%", "\\boxed{25}", C),
    ("C", "25\\%", "\\boxed{0.25}", C),
    ("C", "25\\%", "\\boxed{\\frac14}", C),
    ("C", "25\\%", "The answer is 25 percent.", C),
    ("D", "1.000001", _PROBE + "Therefore, the answer is $\\boxed{1}$.", I),
    ("D", "100.0001", _PROBE + "Therefore, the answer is $\\boxed{100}$.", I),
    ("D", "\\frac{1}{3}", "\\boxed{0.333333}", C),
    ("D", "0.666667", "\\boxed{\\frac{2}{3}}", C),
    ("FN1", "4t", _PROBE + "Therefore, the answer is $\\boxed{t\\cdot 4}$.", C),
    ("FN1", "4t", "\\boxed{4}", I),
    ("FN5", "\\frac{130}{231}",
     "(-\\frac{2}{3}\\right)\\left(\\frac{5}{7}\\right)\\left(-\\frac{13}{11}\\right)=\\frac{2\\cdot5\\cdot13}{3\\cdot7\\cdot 11}"
     "=\\boxed{\\frac{130}{231}}.\n\\]The final answer is positive, because two of the three numbers being multiplied "
     "are negative (and a negative number times a negative number is a positive number).", C),
    ("FN6", "4",
     " \\boxed{\\phantom{2}}.\\] If the number in the box is anything but 4, then the equation cannot be true, and the "
     "original equation has no solutions.  If the number in the box is $\\boxed{4}$, then the two sides of the original "
     "equation are equivalent, and all values of $x$ are solutions to the equation.", C),
    ("empty", "5", _PROBE + "So the answer is $\\boxed{}$.", I),
]


@pytest.mark.parametrize(("pattern", "gold", "completion", "expected"), OUTSIDE_PROBE,
                         ids=[f"probe{p}-{i}" for i, (p, *_x) in enumerate(OUTSIDE_PROBE)])
def test_outside_probe_2026_12_01(pattern, gold, completion, expected):
    res = grade(completion, gold)
    assert res.verdict == expected, res
    if pattern == "empty":
        assert res.reason == "empty_box"
