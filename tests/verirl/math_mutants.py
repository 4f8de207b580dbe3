"""Mutants and perturbations of every correct golden row (issue 11, the HumanEval-mutant idea for math).

A mutant changes the value (one digit, the sign, x10, a pair's order, an interval endpoint's
bracket, a dropped term, a ``%`` where rule 5 says it matters) and must be graded incorrect. A
perturbation changes only the spelling (whitespace, ``\\left``/``\\right``, ``\\dfrac``/``\\tfrac``,
``$..$``, the box swapped for "The answer is ...", a ``\\text{}`` unit) and must stay correct.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tests.verirl.golden_math import GOLDEN, HELD_OUT
from verirl.extract import extract_answer
from verirl.math.grader import grade
from verirl.math.values import as_choice, as_word, normalize, parse_number, split_list

TEMPLATES = (
    "Some work.\n\nTherefore the answer is $\\boxed{{{}}}$.",
    "Some work.\n\nThe answer is ${}$.",
    "Some work.\n#### {}",
    "Some work.\n\n**Final answer:** ${}$",
    "Reasoning first.\nAnswer: ${}$",
    "Putting it together, the final answer is ${}$. I hope it is correct.",
)


def seeds() -> list[tuple[str, str]]:
    """(gold, answer) for every correct golden row whose answer grades correct in every template."""
    out: list[tuple[str, str]] = []
    from tests.verirl.test_math_policy import RULES

    rows = [(g, c) for _cat, g, c, exp, _n in GOLDEN + HELD_OUT if exp == "correct"]
    rows += [(g, c) for _r, g, c, exp in RULES if exp == "correct"]
    for gold, completion in rows:
        ans = extract_answer(completion).answer
        if not ans or as_choice(normalize(gold)) or as_word(normalize(gold)) or "$" in ans or "\n" in ans:
            continue
        if all(grade(t.format(ans), gold).verdict == "correct" for t in TEMPLATES) and (gold, ans) not in out:
            out.append((gold, ans))
    return out


def _digit_mutants(ans: str) -> Iterator[tuple[str, str]]:
    # only the first 5 significant digits of a decimal literal: later ones may sit inside rule 4's precision
    spots: list[int] = []
    for m in re.finditer(r"\d+(?:\.\d+)?", ans):
        lit = m.group(0)
        sig = 0
        for k, ch in enumerate(lit):
            if ch == ".":
                continue
            if "." in lit and (sig or ch != "0"):
                sig += 1
                if sig > 5:
                    break
            spots.append(m.start() + k)
    for pos in spots:
        if ans[max(0, pos - 5) : pos].endswith(("_", "_{", "i^", "i^{")):  # a subscript name; i^6 = i^2
            continue
        for d in "0123456789":
            if d != ans[pos]:
                yield "digit", ans[:pos] + d + ans[pos + 1 :]


def mutants(gold: str, ans: str) -> Iterator[tuple[str, str]]:
    """(kind, mutated answer) pairs that must not equal ``gold``."""
    yield from _digit_mutants(ans)
    num = parse_number(normalize(ans))
    gnum = parse_number(normalize(gold))
    if (num is None or num.value != 0) and "\\pm" not in ans:  # -(+-3) is +-3 again
        yield "sign", ans[1:] if ans.startswith("-") else "-" + ans if not ans.startswith("(") else "-" + ans
    if num is not None and num.value != 0 and not num.percent:
        yield "x10", str(num.value * 10) if num.value.denominator == 1 else f"{float(num.value * 10)!r}"
    got = split_list(normalize(ans))
    if got and got[0] == "tuple()" and len(got[1]) == 2 and normalize(got[1][0]) != normalize(got[1][1]):
        yield "swap", f"({got[1][1]}, {got[1][0]})"
    m = re.fullmatch(r"([\(\[])(.+)", ans.strip())
    if m and "\\infty" not in m.group(2).split(",")[0] and (got is None or got[0] != "tuple()" or "\\infty" in ans):
        yield "bracket", ("[" if m.group(1) == "(" else "(") + m.group(2)
    terms = _top_terms(ans)
    if len(terms) > 1:
        yield "drop_term", "".join(terms[:-1])
    if gnum is not None and gnum.value != 0 and not gnum.percent and "\\%" not in ans:
        v = gnum.value * 100
        yield "percent", str(v) if v.denominator == 1 else repr(float(v))  # 0.25 -> 25: no x100 leniency
    if gnum is not None and gnum.percent and gnum.value != 0:
        v = gnum.value / 100
        yield "percent", (str(v) if v.denominator == 1 else repr(float(v))) + "\\%"  # 25% -> 0.25%


def _top_terms(ans: str) -> list[str]:
    terms, depth, cur = [], 0, ""
    for k, c in enumerate(ans):
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        if c in "+-" and depth == 0 and k > 0 and ans[k - 1] not in "^_{(=,eE\\" and cur.strip():
            terms.append(cur)
            cur = ""
        cur += c
    terms.append(cur)
    if any("=" in t or "<" in t or ">" in t or "," in t or "&" in t for t in terms):
        return [ans]
    return terms


def perturbations(ans: str) -> Iterator[tuple[str, str]]:
    """(kind, completion) pairs that must stay correct."""
    spaced = re.sub(r"\s*([+=])\s*", r" \1 ", ans)
    yield "whitespace", TEMPLATES[0].format("  " + spaced + " ")
    if "(" in ans and ")" in ans and "\\left" not in ans:
        yield "left_right", TEMPLATES[0].format(ans.replace("(", "\\left(").replace(")", "\\right)"))
    if "\\frac" in ans:
        yield "dfrac", TEMPLATES[0].format(ans.replace("\\frac", "\\dfrac"))
        yield "tfrac", TEMPLATES[1].format(ans.replace("\\frac", "\\tfrac"))
    yield "dollars", f"Work.\n\nSo the result is $\\boxed{{${ans}$}}$."
    yield "the_answer_is", f"Work.\n\nThe answer is ${ans}$."
    yield "final_answer_line", f"Work.\n\nFinal answer: {ans}"
    yield "gsm8k", f"Work.\n#### {ans}"
    num = parse_number(normalize(ans))
    if num is not None and not num.percent:
        yield "unit", TEMPLATES[0].format(ans + "\\text{ cm}")
        yield "unit", TEMPLATES[1].format(ans + "\\text{ units}")


def all_cases() -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(gold, completion, kind) for every mutant (in every template) and every perturbation."""
    bad: list[tuple[str, str, str]] = []
    good: list[tuple[str, str, str]] = []
    for gold, ans in seeds():
        for kind, m in mutants(gold, ans):
            for t in TEMPLATES:
                bad.append((gold, t.format(m), kind))
        for kind, c in perturbations(ans):
            good.append((gold, c, kind))
    return bad, good
