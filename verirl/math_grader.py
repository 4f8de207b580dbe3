"""Decide whether a model's math answer equals the ground truth.

Layers, cheapest first; the first layer that can decide does:

1. ``string``   the two answers are equal after normalisation (text noise,
                ``\\left``/``\\right``, spacing, ``\\dfrac``, degrees, ``$``...).
2. ``choice``   the gold is a multiple-choice letter: compare letters.
3. ``text``     the gold is a word or short phrase (Yes, Monday, even): compare
                case-insensitively; never hand words to sympy.
4. ``numeric``  both sides are plain numbers (integers, decimals, fractions,
                mixed numbers, percentages, scientific notation, thousands
                separators, ``\\frac``): exact rational comparison, or relative
                tolerance when either side is written as a decimal.
5. ``sympy``    math-verify + sympy for everything else (expressions, equations,
                sets, tuples, intervals, inequalities, matrices, complex numbers).
                The gold is always parsed as if boxed, once per problem.

Anti-gaming rules: an answer longer than ``MAX_ANSWER_CHARS`` is incorrect; an
answer that hedges ("1 or 2", several different boxed answers in the final
statement, a list where the gold is one value) is incorrect; an empty box is no
answer. The grader itself has no clock: the caller runs it in a process it can
kill (see :mod:`verirl.pool`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any

from verirl.extract import Extraction, answer_region, boxed_answers, extract_answer

MAX_ANSWER_CHARS = 1000
DEFAULT_FLOAT_REL_TOL = 1e-6


@dataclass
class MathResult:
    verdict: str  # correct | incorrect | no_answer
    extracted: str | None
    layer: str | None = None
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- normalisation

_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname|textnormal)\s*\{([^{}]*)\}")
_SPACING = re.compile(r"\\[,;:! ]|\\quad|\\qquad|\\displaystyle|\\left|\\right|\\big|\\Big|~")
_DEGREE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree")
_UNITS = (
    r"(?:units?|degrees?|cm|m|km|mm|inches|inch|in|feet|foot|ft|miles?|mph|hours?|hrs?|minutes?|mins?|"
    r"seconds?|sec|s|days?|weeks?|years?|dollars?|cents?|meters?|square|sq|cubic|kg|g|grams?|pounds?|lbs?|"
    r"ounces?|oz|liters?|L|ml|mL|gallons?|points?|people|students|ways)"
)
_TRAILING_UNIT = re.compile(r"^(.*?\d)\s*(?:\\text\{\s*)?" + _UNITS + r"(?:\^?\{?[23]\}?)?\s*\}?\.?$")


def normalize(ans: str) -> str:
    """A canonical spelling of an answer, for the string layer (safe rewrites only)."""
    s = ans.strip()
    s = re.sub(r"^\$+|\$+$", "", s)
    s = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", s).strip()
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _DEGREE.sub("", s)
    s = _SPACING.sub("", s)
    for _ in range(3):
        s2 = _TEXT_CMD.sub(r"\1", s)
        if s2 == s:
            break
        s = s2
    s = s.replace("\\%", "%").replace("{,}", ",")
    s = re.sub(r"\s+", "", s)
    s = s.rstrip(".")
    m = _TRAILING_UNIT.match(s)
    if m:
        s = m.group(1)
    return s


def _strip_assignment(s: str) -> str:
    """``x=3`` -> ``3`` (a single-letter variable, one '=')."""
    m = re.match(r"^[a-zA-Z](?:_\{?\w+\}?)?=([^=<>]+)$", s)
    return m.group(1) if m else s


# --------------------------------------------------------------------------- numbers

_INT = r"\d+(?:,\d{3})*"
_NUM_RE = re.compile(rf"^([+-]?)({_INT}(?:\.\d*)?|\.\d+)(?:(?:e|E|\\times10\^|\\cdot10\^|\*10\^)\{{?([+-]?\d+)\}}?)?(%?)$")
_FRAC_RE = re.compile(r"^([+-]?)\\frac\{?(\d+)\}?\{?(\d+)\}?(%?)$")
_SLASH_RE = re.compile(r"^([+-]?)(\d+)/(\d+)(%?)$")
_MIXED_RE = re.compile(r"^([+-]?)(\d+)\\frac\{(\d+)\}\{(\d+)\}$")


@dataclass(frozen=True)
class Number:
    value: Fraction
    is_float: bool  # written with a decimal point or exponent
    percent: bool


def parse_number(s: str) -> Number | None:
    """A plain number written in ``s`` (already normalised), or None."""
    if not s or len(s) > 60:
        return None
    if s.startswith("-") and s[1:2] == "\\":  # -\frac{1}{2}
        inner = parse_number(s[1:])
        return Number(-inner.value, inner.is_float, inner.percent) if inner else None
    m = _NUM_RE.match(s)
    if m:
        sign, body, exp, pct = m.groups()
        if "," in body and not re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d*)?", body):
            return None
        body = body.replace(",", "")
        try:
            v = Fraction(body)
        except (ValueError, ZeroDivisionError):
            return None
        if exp is not None:
            e = int(exp)
            if abs(e) > 400:
                return None
            v *= Fraction(10) ** e
        if sign == "-":
            v = -v
        return Number(v, "." in body or (exp is not None and "e" in s.lower()), bool(pct))
    for rx in (_FRAC_RE, _SLASH_RE):
        m = rx.match(s)
        if m:
            sign, a, b, pct = m.groups()
            if int(b) == 0:
                return None
            v = Fraction(int(a), int(b))
            return Number(-v if sign == "-" else v, False, bool(pct))
    m = _MIXED_RE.match(s)
    if m:
        sign, w, a, b = m.groups()
        if int(b) == 0:
            return None
        v = int(w) + Fraction(int(a), int(b))
        return Number(-v if sign == "-" else v, False, False)
    return None


def numbers_equal(gold: Number, pred: Number, rel_tol: float | None) -> bool:
    g, p = gold.value, pred.value
    if pred.percent and not gold.percent and p / 100 == g and g != p:
        # "50%" against a gold of 0.5
        return True
    if g == p:
        return True
    if gold.is_float or pred.is_float or rel_tol is not None:
        tol = DEFAULT_FLOAT_REL_TOL if rel_tol is None else rel_tol
        if tol == 0:
            return False
        return abs(float(g) - float(p)) <= tol * max(abs(float(g)), abs(float(p)), 1e-12)
    return False


# --------------------------------------------------------------------------- choices and words

_CHOICE_RE = re.compile(r"^\(?([A-Ea-e])\)?$")
_WORD_RE = re.compile(r"^[A-Za-z][A-Za-z' \-]*$")
_HEDGE_RE = re.compile(r"(?:\\text\{\s*or\s*\}|\bor\b|\\lor|\\vee|\\text\{\s*and\s*/\s*or\s*\})")


def as_choice(s: str) -> str | None:
    m = _CHOICE_RE.match(s)
    if m:
        return m.group(1).upper()
    m = re.match(r"^\(?([A-E])\)\s*\S", s)  # "(B) 42", "B) 42"
    return m.group(1) if m else None


def as_word(s: str) -> str | None:
    s = s.strip()
    if _WORD_RE.match(s) and not re.fullmatch(r"[a-zA-Z]", s) and "\\" not in s:
        return s.lower().replace("-", " ").strip()
    return None


# --------------------------------------------------------------------------- sympy layer


@lru_cache(maxsize=4096)
def _mv_parse(text: str) -> Any:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    return parse(
        "\\boxed{" + text + "}",
        extraction_config=[LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()],
        parsing_timeout=None,  # type: ignore[arg-type]  # the caller's process deadline bounds us
    )


def sympy_equal(gold: str, pred: str, rel_tol: float | None) -> bool | None:
    """math-verify + sympy; None when either side does not parse."""
    from math_verify import verify

    g = _mv_parse(gold)
    p = _mv_parse(pred)
    if not g or not p:
        return None
    rounding = 6
    if rel_tol is not None and rel_tol > 0:
        import math

        rounding = max(0, min(15, round(-math.log10(rel_tol))))
    return bool(verify(g, p, float_rounding=rounding, timeout_seconds=None))


# --------------------------------------------------------------------------- grading


def _list_len(s: str) -> int:
    """How many top-level comma-separated parts ``s`` has (brackets respected)."""
    depth, parts = 0, 1
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts += 1
    return parts


def _final_statement_boxes(text: str) -> list[str]:
    """Distinct boxed answers in the paragraph holding the last box."""
    last = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if last < 0:
        return []
    start = text.rfind("\n\n", 0, last)
    boxes = boxed_answers(text[start + 1 if start >= 0 else 0 :])
    distinct: list[str] = []
    seen: set[str] = set()
    for b in boxes:
        n = normalize(b)
        if n not in seen:
            seen.add(n)
            distinct.append(b)
    return distinct


@lru_cache(maxsize=65536)
def compare(gold: str, pred: str, rel_tol: float | None = None) -> tuple[bool, str]:
    """Equivalence of two extracted answers; returns (equal, deciding layer).

    Cached per process: rollouts of one prompt repeat the same answers a lot.
    """
    ng, np_ = normalize(gold), normalize(pred)
    if ng == np_:
        return True, "string"
    if "=" not in ng:
        np_ = _strip_assignment(np_)
        if ng == np_:
            return True, "string"
    gc = as_choice(ng)
    if gc is not None:
        pc = as_choice(np_) or as_choice(re.sub(r"^\\text\{\(?([A-E])\)?.*\}$", r"\1", pred.strip()))
        return pc == gc, "choice"
    gw = as_word(ng)
    if gw is not None:
        pw = as_word(np_)
        return (pw == gw), "text"
    gn = parse_number(ng)
    pn = parse_number(np_)
    if gn is not None and pn is not None:
        return numbers_equal(gn, pn, rel_tol), "numeric"
    if gn is not None and as_word(np_) is not None:
        return False, "text"
    ok = sympy_equal(gold, pred, rel_tol)
    if ok is None:
        return False, "unparsed"
    return ok, "sympy"


def grade(
    completion: str,
    gold: str,
    *,
    strategies: tuple[str, ...] | list[str] | None = None,
    think: str = "strip",
    rel_tol: float | None = None,
) -> MathResult:
    """Grade one completion against one gold answer."""
    ex: Extraction = extract_answer(completion, strategies, think)
    if ex.answer is None:
        return MathResult("no_answer", None, None, ex.reason)
    pred = ex.answer
    if not pred.strip():
        return MathResult("no_answer", pred, None, "empty_answer")
    details: dict[str, Any] = {"strategy": ex.strategy}
    if len(pred) > MAX_ANSWER_CHARS:
        return MathResult("incorrect", pred[:200] + "...", "guard", "answer_too_long", details)
    norm_gold = normalize(gold)
    gold_parts = _list_len(norm_gold)
    if ex.strategy == "boxed":
        finals = _final_statement_boxes(answer_region(completion, think) or "")
        if len(finals) > 1 and all(compare(finals[-1], f, rel_tol)[0] for f in finals[:-1]):
            finals = finals[-1:]  # the same value written twice is not a hedge
        if len(finals) > 1:
            if gold_parts > 1 and len(finals) == gold_parts:
                pred = ", ".join(finals)
            else:
                details["candidates"] = finals
                return MathResult("incorrect", pred, "guard", "several_boxed_answers", details)
    if _HEDGE_RE.search(pred) and not _HEDGE_RE.search(gold):
        if gold_parts > 1:
            pred = _HEDGE_RE.sub(",", pred)
        else:
            return MathResult("incorrect", pred, "guard", "hedged_answer", details)
    pred_n = normalize(pred)
    if (
        gold_parts == 1
        and _list_len(pred_n) > 1
        and parse_number(norm_gold) is not None
        and not re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?", pred_n)
    ):
        return MathResult("incorrect", pred, "guard", "list_for_single_answer", details)
    equal, layer = compare(gold, pred, rel_tol)
    return MathResult("correct" if equal else "incorrect", pred, layer, None, details)
