"""Variants of the outside probe's false-positive patterns (2026-12-01) that the tester did not write.

A: the span of an unboxed answer ends at its clause (prose after it is never graded; a cut-off
"but maybe Y" / "(or Y)" is a hedge). B: a MATH thousands gold (``12,\\!345``) is one number and a
comma-and-space answer (``12, 345``) is two values. C: ``%`` means x1/100 against a gold without
``%``. D: a gold written as a terminating decimal is exact; only a decimal approximating a value
with no finite expansion (or a decimal answer for an exact gold) gets the ~6-digit allowance.
"""

from __future__ import annotations

import pytest

from verirl.math.grader import grade

C, I = "correct", "incorrect"
P = "Let me think about it.\n\nAfter simplifying we get the result.\n\n"
A = [
    ("17", P + "The answer is 12 when n = 17.", I),
    ("12", P + "The answer is 12 when n = 17.", C),
    ("8", P + "The answer is 5, since 3 + 5 = 8.", I),
    ("5", P + "The answer is 5, since 3 + 5 = 8.", C),
    ("10", P + "Answer: 7 because the other root x = 10 is extraneous.", I),
    ("7", P + "Answer: 7 because the other root x = 10 is extraneous.", C),
    ("2", P + "The final answer is 15 if we take k = 2.", I),
    ("15", P + "The final answer is 15 if we take k = 2.", C),
    ("4", P + "So the answer is 64 at n=4", I),
    ("64", P + "So the answer is 64 at n=4", C),
    ("100", P + "Answer: 36 (out of 100 trials).", I),
    ("36", P + "Answer: 36 (out of 100 trials).", C),
    ("3", P + "The answer is 20; the other case x = 3 fails.", I),
    ("20", P + "The answer is 20; the other case x = 3 fails.", C),
    ("9", P + "The answer is 8 but with rounding it is 9", I),
    ("9", P + "My answer is 8 (or maybe 9).", I),
    ("9", P + "The answer is 8, but possibly 9.", I),
    ("8", P + "The answer is 8, but possibly 9.", I),
    ("5", P + "Answer: the maximum is 11 at x = 5", I),
    ("11", P + "Answer: the maximum is 11 at x = 5", C),
    ("2", P + "Answer: the area is 24 when the side is 2", I),
    ("24", P + "Answer: the area is 24 when the side is 2", C),
    ("6", P + "The answer is 30 where n = 6.", I),
    ("30", P + "The answer is 30 where n = 6.", C),
    ("1", P + "Answer: 45 (attained for t = 1)", I),
    ("45", P + "Answer: 45 (attained for t = 1)", C),
    ("0", P + "The answer is 13, so f(0) = 0 is not needed.", I),
    ("13", P + "The answer is 13, so f(0) = 0 is not needed.", C),
    ("99", P + "I believe the answer is 98 but let me double check: 9*11=99", I),
    ("7", P + "答案是 7，因为 x=3。", C),
]
B = [
    ("12,\\!345", P + "The answer is $\\boxed{12, 345}$.", I),
    ("12,\\!345", "\\boxed{12,345}", C),
    ("12,\\!345", "\\boxed{12345}", C),
    ("12,\\!345", "\\boxed{12{,}345}", C),
    ("12,\\!345", "\\boxed{12\\,345}", C),
    ("2,\\!000", "\\boxed{2, 000}", I),
    ("2,\\!000", "\\boxed{2,000}", C),
    ("2,\\!000", "The answer is $2, 000$.", I),
    ("1,\\!000,\\!000", "\\boxed{1, 000, 000}", I),
    ("1,\\!000,\\!000", "\\boxed{1,000,000}", C),
    ("1,\\!000,\\!000", "\\boxed{1000000}", C),
    ("7,\\!500", "#### 7, 500", I),
    ("7,\\!500", "#### 7,500", C),
    ("7,\\!500", "Answer: $7, 500$", I),
    ("4,\\!096", "\\boxed{4, 096}", I),
    ("4,\\!096", "\\boxed{4096}", C),
    ("10,\\!080", "\\boxed{10, 080}", I),
    ("10,\\!080", "\\boxed{10{,}080}", C),
    ("3,\\!628,\\!800", "\\boxed{3, 628, 800}", I),
    ("3,\\!628,\\!800", "\\boxed{3628800}", C),
    ("1,\\!024", "\\boxed{\\{1, 024\\}}", I),
    ("1,\\!024", "\\boxed{(1, 024)}", I),
    ("-2,\\!500", "\\boxed{-2, 500}", I),
    ("-2,\\!500", "\\boxed{-2500}", C),
    ("1,\\!234.5", "\\boxed{1, 234.5}", I),
    ("1,\\!234.5", "\\boxed{1234.5}", C),
    ("\\$5,\\!000", "\\boxed{\\$5, 000}", I),
    ("\\$5,\\!000", "\\boxed{\\$5,000}", C),
    ("16,\\!386", "\\boxed{16\\,386}", C),
    ("16,\\!386", "\\boxed{16 386}", I),
]
C_ = [
    ("40", "\\boxed{40\\%}", C),
    ("40", "#### 40%", C),
    ("40", "The answer is 40 percent.", C),
    ("40", "Answer: $40\\%$", C),
    ("0.4", "\\boxed{40\\%}", C),
    ("\\frac{2}{5}", "\\boxed{40\\%}", C),
    ("40\\%", "\\boxed{40}", C),
    ("40\\%", "\\boxed{0.4}", C),
    ("40\\%", "\\boxed{\\frac25}", C),
    ("40\\%", "\\boxed{40 percent}", C),
    ("40\\%", "\\boxed{40\\%}", C),
    ("40\\%", "\\boxed{4}", I),
    ("12.5", "\\boxed{12.5\\%}", C),
    ("0.125", "\\boxed{12.5\\%}", C),
    ("12.5\\%", "\\boxed{\\frac18}", C),
    ("100", "\\boxed{100\\%}", C),
    ("1", "\\boxed{100\\%}", C),
    ("150", "The answer is $150\\%$.", C),
    ("1.5", "The answer is $150\\%$.", C),
    ("5", "\\boxed{5\\%}", C),
    ("0.05", "\\boxed{5\\%}", C),
    ("5\\%", "\\boxed{0.05}", C),
    ("5\\%", "\\boxed{5}", C),
    ("33", "\\boxed{33\\%}", C),
    ("\\frac{1}{3}", "\\boxed{33\\%}", I),
    ("75", "Answer: 75 per cent", C),
    ("0.75", "Answer: 75 per cent", C),
    ("60", "\\boxed{60\\,\\%}", C),
    ("20", "\\boxed{20 \\%}", C),
    ("0.2", "\\boxed{20 \\%}", C),
]
D = [
    ("2.000001", "\\boxed{2}", I),
    ("2", "\\boxed{2.000001}", I),
    ("50.00001", "\\boxed{50}", I),
    ("1000.001", "\\boxed{1000}", I),
    ("0.1000001", "\\boxed{0.1}", I),
    ("0.1", "\\boxed{0.1000001}", I),
    ("3.5", "\\boxed{3.5000001}", I),
    ("3.5", "\\boxed{\\frac72}", C),
    ("12.25", "\\boxed{12.250001}", I),
    ("1.5", "\\boxed{1.4999999}", I),
    ("7", "\\boxed{7.0000001}", I),
    ("7", "\\boxed{7.001}", I),
    ("\\frac{1}{7}", "\\boxed{0.142857}", C),
    ("\\frac{1}{7}", "\\boxed{0.1429}", I),
    ("0.142857", "\\boxed{\\frac17}", C),
    ("0.1429", "\\boxed{\\frac17}", I),
    ("\\frac{2}{3}", "\\boxed{0.666667}", C),
    ("\\frac{2}{3}", "\\boxed{0.667}", I),
    ("\\sqrt{2}", "\\boxed{1.414214}", C),
    ("\\sqrt{2}", "\\boxed{1.414}", I),
    ("\\pi", "\\boxed{3.141593}", C),
    ("\\pi", "\\boxed{3.1416}", I),
    ("1.414214", "\\boxed{\\sqrt{2}}", C),
    ("100000", "\\boxed{100001}", I),
    ("0.000001", "\\boxed{0.000002}", I),
    ("2.5", "\\boxed{2.50}", C),
    ("2.5", "\\boxed{2.5000}", C),
    ("9.99", "\\boxed{10}", I),
    ("10", "\\boxed{9.99}", I),
    ("123456.7", "\\boxed{123457}", I),
]

VARIANTS = [("A", *r) for r in A] + [("B", *r) for r in B] + [("C", *r) for r in C_] + [("D", *r) for r in D]


def test_thirty_variants_per_pattern():
    assert all(sum(p == k for p, *_x in VARIANTS) >= 30 for k in "ABCD")


@pytest.mark.parametrize(("pattern", "gold", "completion", "expected"), VARIANTS,
                         ids=[f"{p}-{i}" for i, (p, *_x) in enumerate(VARIANTS)])
def test_probe_pattern_variant(pattern, gold, completion, expected):
    res = grade(completion, gold)
    assert res.verdict == expected, res
