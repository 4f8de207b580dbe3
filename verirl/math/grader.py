"""Decide whether a model's math answer equals the ground truth (../shared/MATH_POLICY.md).

Layers, cheapest first; the first layer that can decide does (``details.layer``):

1. ``string``    equal after token-wise normalisation (text noise, ``\\left``/``\\right``,
                 ``\\dfrac``, degrees, currency, units, ``$``); whitespace between two
                 numbers is kept, so ``3 4`` never becomes ``34``.
2. ``choice``    the gold is one option letter: exactly one letter in the answer.
3. ``text``      the gold is a word or phrase: case-insensitive, never handed to sympy.
4. ``numeric``   plain numbers (:mod:`verirl.math.values`): exact rationals, percent,
                 decimals judged by relative error and significant digits, never an
                 absolute tolerance.
5. ``interval``  intervals, unions and one-variable inequalities, in either notation.
6. ``list``      sets (unordered), comma lists of solutions (unordered), tuples (ordered),
                 element by element through these same layers.
7. ``sympy``     math-verify + sympy for the rest; closed-form numbers (complex ones with
                 ``i`` too) are compared by relative error at 60 digits, equations up to a
                 constant factor. The gold is parsed once per problem.

Anti-gaming (policy rule 3): an answer longer than ``MAX_ANSWER_CHARS`` is incorrect;
several different boxed answers in the final statement, "1 or 2", ``\\pm`` for one value,
a list where the gold is one value, and an empty box (verdict ``incorrect``, reason ``empty_box``)
are incorrect. A gold
that is empty or cannot be read is verdict ``error`` (rule 14), never ``incorrect``.
The grader has no clock: the caller runs it in a process it can kill (:mod:`verirl.pool`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from verirl.extract import Extraction, _boxes, answer_region, boxed_answers, extract_answer
from verirl.math.cost import AnswerTooCostly, answer_budget, budget_paused, too_costly
from verirl.math.intervals import interval_union, intervals_equal
from verirl.math.values import (
    alternatives,
    as_choice,
    as_word,
    has_hedge,
    normalize,
    numbers_equal,
    parse_number,
    power_log10,
    split_list,
    strip_assignment,
)

MAX_ANSWER_CHARS = 1000

__all__ = ["MAX_ANSWER_CHARS", "MathResult", "compare", "grade", "normalize", "parse_number"]


@dataclass
class MathResult:
    verdict: str  # correct | incorrect | no_answer | error (a bad label)
    extracted: str | None
    layer: str | None = None
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- sympy layer


@lru_cache(maxsize=4096)
def _mv_parse(text: str) -> Any:
    from latex2sympy2_extended.math_normalization import NormalizationConfig
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    # units=False: math-verify's unit stripping reads the variable in "4t" or "3h" as a unit
    # (4t would equal 4); units of rule 6 are already removed by ``normalize``
    config = NormalizationConfig(basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all")
    return parse(
        "\\boxed{" + text + "}",
        extraction_config=[
            LatexExtractionConfig(boxed_match_priority=0, normalization_config=config),
            ExprExtractionConfig(),
        ],
        parsing_timeout=None,  # type: ignore[arg-type]  # the caller's process deadline bounds us
    )


_DECIMAL = re.compile(r"\d*\.\d+|\d+\.\d*")


def _sig_digits(text: str) -> int:
    """Significant digits of the longest decimal literal written in ``text`` (0 if none)."""
    best = 0
    for lit in _DECIMAL.findall(text):
        best = max(best, len(lit.replace(".", "").lstrip("0")))
    return best


def _closed_form_equal(g: Any, p: Any, gold: str, pred: str, rel_tol: float | None) -> bool | None:
    """Two closed-form numbers (no free symbols but ``i``): equal by value, no absolute tolerance."""
    import sympy

    try:
        if not (isinstance(g, sympy.Expr) and isinstance(p, sympy.Expr)):
            return None
        free = g.free_symbols | p.free_symbols
        if any(getattr(x, "name", "") != "i" for x in free):
            return None
        for x in free:  # i^2 = -1 (policy rule 10)
            g, p = g.subs(x, sympy.I), p.subs(x, sympy.I)
        gv, pv = complex(g.evalf(60)), complex(p.evalf(60))  # floats only for the magnitude check
        if gv != gv or pv != pv:  # nan
            return None
        d = abs((g - p).evalf(60))
        scale = max(abs(g.evalf(60)), abs(p.evalf(60)))
        if scale == 0:
            return True
        rel = float(d / scale)
    except (TypeError, ValueError, OverflowError, ZeroDivisionError, AttributeError):
        return None
    written = g.has(sympy.Float) or p.has(sympy.Float)
    if rel <= 1e-40:
        if written or rel_tol is not None:
            return True
        # exact forms: no relative slack (2^{2023} is not 2^{2023}-1, 7+10^{-50} is not 7)
        if isinstance(g, sympy.Rational) and isinstance(p, sympy.Rational):
            return bool(g == p)
        try:
            big = float(scale)
            digits = int(math.log10(big)) if big > 1 else 0
            return bool(abs((g - p).evalf(digits + 70)) <= sympy.Float(10) ** -55)
        except (TypeError, ValueError, OverflowError):
            return None
    if rel_tol is None and isinstance(g, sympy.Rational) and _terminating(g):
        return False  # rule 4: a gold with a terminating decimal form (7, 1/4) is matched exactly
    if not written and rel_tol is None:
        return False
    tol = 1e-6 if rel_tol is None else rel_tol
    if rel <= tol:
        return True
    digits = _sig_digits(pred)
    if digits >= 6:  # right to the digits the answer wrote (rounded)
        return rel <= 0.5 * 10.0 ** (1 - digits) * 1.000001 * 10
    return False


def _terminating(r: Any) -> bool:
    d = int(r.q)
    for f in (2, 5):
        while d % f == 0:
            d //= f
    return d == 1


def _equations_equal(g: Any, p: Any) -> bool | None:
    """``y=2x+1`` vs ``2x-y+1=0``: the two sides' differences agree up to a constant factor."""
    import sympy

    if not (isinstance(g, sympy.Equality) and isinstance(p, sympy.Equality)):
        return None
    try:
        a = g.lhs - g.rhs
        b = p.lhs - p.rhs
        if not isinstance(a, sympy.Expr) or not isinstance(b, sympy.Expr) or b == 0:
            return None
        ratio = sympy.simplify(a / b)
        return bool(ratio.is_number and ratio != 0 and ratio.is_finite)
    except (TypeError, ValueError, AttributeError, ZeroDivisionError):
        return None


def sympy_equal(gold: str, pred: str, rel_tol: float | None) -> bool | None:
    """math-verify + sympy; None when either side does not parse."""
    from math_verify import verify

    with budget_paused():  # the gold's cost is ours, not the answer's
        g = _mv_parse(gold)
    p = _mv_parse(pred)
    if not g or not p:
        return None
    closed = _closed_form_equal(g[0], p[0], gold, pred, rel_tol)
    if closed is not None:
        return closed
    if _equations_equal(g[0], p[0]):
        return True
    rounding = 6
    if rel_tol is not None and rel_tol > 0:
        import math

        rounding = max(0, min(15, round(-math.log10(rel_tol))))
    return bool(verify(g, p, float_rounding=rounding, timeout_seconds=None))


# --------------------------------------------------------------------------- comparing two answers


def _distinct(items: list[str]) -> list[str]:
    out: list[str] = []
    for x in items:
        if not any(compare(x, y)[0] for y in out):
            out.append(x)
    return out


def _compare_lists(gold: str, pred: str, rel_tol: float | None) -> bool | None:
    """Sets and solution lists ignore order; tuples keep it. None when neither side is a collection."""
    g = split_list(gold)
    p = split_list(pred)
    if g is None or p is None:
        return None
    (gkind, gitems), (pkind, pitems) = g, p
    if len(gitems) < 2 and len(pitems) < 2 and gkind == pkind == "bare":
        return None
    if gkind.startswith("tuple") or pkind.startswith("tuple"):
        if len(gitems) != len(pitems):
            return False
        if gkind != pkind:
            # (x, y) against "x=1, y=2": the assignments in variable order
            if pkind == "assign" and gkind == "tuple()":
                return all(compare(a, b, rel_tol)[0] for a, b in zip(gitems, pitems, strict=True))
            if gkind == "assign" and pkind == "tuple()":
                return all(compare(a, b, rel_tol)[0] for a, b in zip(gitems, pitems, strict=True))
            return False
        return all(compare(a, b, rel_tol)[0] for a, b in zip(gitems, pitems, strict=True))
    if pkind == "assign" and gkind == "assign":
        return len(gitems) == len(pitems) and all(compare(a, b, rel_tol)[0] for a, b in zip(gitems, pitems, strict=True))
    gitems, pitems = _distinct(gitems), _distinct(pitems)
    if len(gitems) != len(pitems):
        return False
    unused = list(pitems)
    for a in gitems:
        hit = next((k for k, b in enumerate(unused) if compare(a, b, rel_tol)[0]), None)
        if hit is None:
            return False
        unused.pop(hit)
    return True


_BASE = re.compile(r"^(?=[0-9A-Z]*\d)([0-9A-Z]+)_\{?\(?(\d{1,2})\)?\}?$")


_NUMERAL_SUB = re.compile(r"^\{?\s*[0-9A-Z]+\s*\}?\s*_")
_BASE_WORDS = {"two": 2, "binary": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "octal": 8,
               "nine": 9, "ten": 10, "decimal": 10, "twelve": 12, "sixteen": 16, "hex": 16, "hexadecimal": 16}


def _plain_base(s: str) -> str:
    """``{10}_{7}``, ``10_{{7}}``, ``10_ 7``, ``17_{\\text{base }8}``, ``10_{two}`` spelled ``10_7`` / ``17_8``."""
    m = re.match(r"^\{?\s*([0-9A-Z]+)\s*\}?\s*_\s*(.+)$", s)
    if not m:
        return s
    sub = re.sub(r"\\(?:text|mathrm|textrm)\s*", "", m.group(2))
    sub = re.sub(r"[{}\[\]()\s]|base", "", sub, flags=re.IGNORECASE).lower()
    if sub.isdigit():
        return f"{m.group(1)}_{sub}"
    if sub in _BASE_WORDS:
        return f"{m.group(1)}_{_BASE_WORDS[sub]}"
    return s


def _base_numbers(ng: str, np_: str) -> bool | None:
    """``100_2`` (a numeral in base 2) read by its value, or None when neither side is one.

    A gold written in a base is matched by the same numeral with or without its subscript
    (``10100_2`` for ``10100_2``: the question named the base); a base-b numeral against a plain gold
    is its value in base b (``100_2`` is 4, never 100).
    """
    pb, gb = _BASE.match(_plain_base(np_)), _BASE.match(_plain_base(ng))
    if pb is None:
        if "_" not in ng and _NUMERAL_SUB.match(np_):
            return False  # "10_{\\text{seven}}", "10_{[7]}": a numeral in a base we cannot read
        return None
    if int(pb.group(2)) == 10:
        return None
    if gb is not None:
        return pb.group(1).upper() == gb.group(1).upper() and pb.group(2) == gb.group(2)
    gn = parse_number(ng)
    if gn is None or gn.percent or gn.value.denominator != 1 or not 2 <= int(pb.group(2)) <= 36:
        return False
    try:
        return int(pb.group(1), int(pb.group(2))) == gn.value
    except ValueError:  # "12_2": a digit the base does not have
        return False


@lru_cache(maxsize=65536)
def compare(gold: str, pred: str, rel_tol: float | None = None) -> tuple[bool, str]:
    """Equivalence of two extracted answers; returns (equal, deciding layer).

    Cached per process: rollouts of one prompt repeat the same answers a lot.
    """
    ng, np_ = normalize(gold), normalize(pred)
    if ng == np_:
        return True, "string"
    if "=" not in ng:
        np_ = strip_assignment(np_)
        if ng == np_:
            return True, "string"
    else:
        sg = strip_assignment(ng)
        if sg != ng and "=" not in sg and sg == strip_assignment(np_):
            return True, "string"
    based = _base_numbers(ng, np_)
    if based is not None:
        return based, "base"
    gc = as_choice(ng)
    if gc is not None:
        return as_choice(np_, strict=False) == gc, "choice"
    gw = as_word(ng)
    if gw is not None:
        return as_word(np_) == gw, "text"
    gn = parse_number(ng)
    pn = parse_number(np_)
    if gn is not None and pn is not None:
        return numbers_equal(gn, pn, rel_tol), "numeric"
    if gn is not None and as_word(np_) is not None:
        return False, "text"
    for a, b in ((gn, np_), (pn, ng)):
        size = power_log10(b) if a is not None else None
        if size is not None and size > 400:  # a plain number against a power with over 400 digits
            return False, "numeric"
    gi, pi = interval_union(ng), interval_union(np_)
    if gi is not None and pi is not None and (gi.notation != "tuple" or pi.notation != "tuple"):
        return intervals_equal(gi, pi, lambda a, b: compare(a, b, rel_tol)[0]), "interval"
    if (gi is None) != (pi is None) and "empty" in (getattr(gi, "notation", ""), getattr(pi, "notation", "")):
        return False, "interval"
    listed = _compare_lists(ng, np_, rel_tol)
    if listed is not None:
        return listed, "list"
    gs = strip_assignment(ng) if "=" in ng and "=" not in np_ else ng
    ok = sympy_equal(gs, np_, rel_tol)
    if ok is None:
        return False, "unparsed"
    return ok, "sympy"


# --------------------------------------------------------------------------- the gold


@lru_cache(maxsize=16384)
def _label_problem(gold: str) -> str | None:
    """Why ``gold`` cannot be graded against (policy rule 14), or None."""
    if not gold.strip():
        return "the ground-truth answer is empty; check the dataset's answer column (answer_key)"
    n = normalize(gold)
    if not n or n in {"{}", "()", "[]"}:
        return f"the ground-truth answer {gold[:80]!r} has no value in it (an empty box or only delimiters)"
    depth = 0
    k = 0
    while k < len(gold):
        c = gold[k]
        if c == "\\":
            k += 2
            continue
        depth += (c == "{") - (c == "}")
        if depth < 0:
            break
        k += 1
    if depth != 0:
        return f"the ground-truth answer {gold[:80]!r} has unbalanced braces; fix the label"
    return None


@lru_cache(maxsize=16384)
def _gold_value_count(norm_gold: str) -> int:
    got = split_list(norm_gold)
    if got is None:
        return 1
    kind, items = got
    return len(items) if kind in ("set", "bare", "pm", "assign") else 1


_NEGATION = re.compile(r"\\ne(?![a-zA-Z])|\\not(?![a-zA-Z])|\\n(?:less|gtr|leq|geq|sim|cong|equiv)(?![a-zA-Z])")
_SAID_WRONG = re.compile(r"\b(?:wrong|incorrect|false|not|never|isn'?t)\b", re.IGNORECASE)
_GCD = re.compile(r"\\(?:gcd|lcm)(?![a-zA-Z])|\b(?:gcd|lcm)\b|\\operatorname\s*\{\s*(?:gcd|lcm)\s*\}", re.IGNORECASE)
_FREE_LETTER = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z](?![a-zA-Z])")


def _claim_about(pred_n: str, norm_gold: str) -> str | None:
    r"""Why ``pred_n`` states something about a value instead of giving one, or None.

    ``x \ne 7`` says what the answer is not; ``\gcd(x, 7)`` of a free variable has no value
    (sympy reads it as the polynomial gcd, 1). Neither is an answer unless the gold is one too.
    """
    if _NEGATION.search(pred_n) and not _NEGATION.search(norm_gold):
        return "negated_answer"
    if as_choice(norm_gold) is not None and _SAID_WRONG.search(pred_n):
        return "negated_answer"  # "\\text{C is wrong}", "C is incorrect"
    if _GCD.search(pred_n) and not _GCD.search(norm_gold):
        bare = _GCD.sub(" ", re.sub(r"\\[a-zA-Z]+", " ", pred_n))
        if _FREE_LETTER.search(bare):
            return "gcd_of_a_variable"
    return None


def _false_side(pred_n: str, norm_gold: str, gold_values: int, rel_tol: float | None) -> str | None:
    """A side without letters of an equation chain that is not the gold's value (``8`` in ``8 = 7``).

    Sides with letters (``x``, ``AB``, ``f(2)``) name the value; every side written with numbers alone
    states it, and all of them must be the answer.
    """
    if gold_values != 1 or "=" in norm_gold or as_choice(norm_gold) is not None or "=" not in pred_n:
        return None
    if "=" not in strip_assignment(pred_n):
        return None  # "x = 7", "2x = 14": a variable and its value (rule 9)
    sides = [t.strip() for t in re.split(r"={1,3}", pred_n)]
    if len(sides) < 2 or any(not t for t in sides) or split_list(pred_n) is not None and "," in pred_n:
        return None
    for side in sides:
        if re.search(r"[a-zA-Z]", re.sub(r"\\[a-zA-Z]+", "", side)):
            continue
        if not compare(norm_gold, side, rel_tol)[0]:
            return side
    return None


_PM = re.compile(r"\\(?:pm|mp)(?![a-zA-Z])")
_PHANTOM = re.compile(r"\\[hv]?phantom\s*\{[^{}]*\}|\\(?:quad|qquad|square|Box|_|ldots|dots|cdots)(?![a-zA-Z])")


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
        n = normalize(_PHANTOM.sub("", b))
        if not n:  # "\boxed{\phantom{2}}" used as notation (the box in the problem) is no answer
            continue
        if n not in seen:
            seen.add(n)
            distinct.append(b)
    return distinct


_SEPARATORS = re.compile(r"(?:\s|,|;|\$|\\quad|\\qquad|\\[,;]|\\text\{\s*and\s*\}|\band\b|\\\)|\\\()*")


def _error(message: str) -> MathResult:
    return MathResult(
        "error",
        None,
        "label",
        "invalid_label",
        {"error": {"code": "invalid_label", "field": "answer", "message": message}},
    )


def grade(
    completion: str,
    gold: str,
    *,
    strategies: tuple[str, ...] | list[str] | None = None,
    think: str = "strip",
    rel_tol: float | None = None,
) -> MathResult:
    """Grade one completion against one gold answer."""
    if isinstance(gold, str) and too_costly(normalize(_unwrap_gold(gold))) is not None:
        # a gold that is itself too costly is our side's: the item's kill deadline decides (verdict timeout)
        return _grade(completion, gold, strategies=strategies, think=think, rel_tol=rel_tol)
    try:
        with answer_budget():
            return _grade(completion, gold, strategies=strategies, think=think, rel_tol=rel_tol)
    except (AnswerTooCostly, RecursionError) as exc:  # rule 13: the answer's cost is the model's, never a null reward
        ex = extract_answer(completion, strategies, think)
        msg = str(exc) if isinstance(exc, AnswerTooCostly) else "the answer nests too deeply to compare"
        return MathResult("incorrect", (ex.answer or "")[:200], "guard", "answer_too_costly", {"cost": msg})


def _grade(
    completion: str,
    gold: str,
    *,
    strategies: tuple[str, ...] | list[str] | None = None,
    think: str = "strip",
    rel_tol: float | None = None,
) -> MathResult:
    """Grade one completion against one gold answer."""
    if not isinstance(gold, str):
        return _error(f"the ground-truth answer must be a string, got {type(gold).__name__}")
    problem = _label_problem(gold)
    if problem:
        return _error(problem)
    gold = _unwrap_gold(gold)
    ex: Extraction = extract_answer(completion, strategies, think)
    if ex.answer is None:
        return MathResult("no_answer", None, None, ex.reason)
    pred = ex.answer
    if not normalize(_PHANTOM.sub("", pred)):
        if ex.strategy == "boxed":  # rule 3: an empty \boxed{} commits to nothing and is wrong
            return MathResult("incorrect", pred, "guard", "empty_box", {"strategy": ex.strategy})
        return MathResult("no_answer", pred, None, "empty_answer")
    details: dict[str, Any] = {"strategy": ex.strategy}
    if len(pred) > MAX_ANSWER_CHARS:
        return MathResult("incorrect", pred[:200] + "...", "guard", "answer_too_long", details)
    norm_gold = normalize(gold)
    gold_values = _gold_value_count(norm_gold)
    if ex.strategy == "boxed":
        finals = _final_statement_boxes(answer_region(completion, think) or "")
        if len(finals) > 1 and all(compare(finals[-1], f, rel_tol)[0] for f in finals[:-1]):
            finals = finals[-1:]  # the same value written twice is not a hedge
        if len(finals) > 1:
            if gold_values > 1 and len(finals) == gold_values:
                pred = ", ".join(finals)
            else:
                details["candidates"] = finals
                return MathResult("incorrect", pred, "guard", "several_boxed_answers", details)
    if ex.hedged and _gold_value_count(normalize(_unwrap_gold(gold))) == 1:
        return MathResult("incorrect", pred, "guard", "hedged_answer", details)
    if has_hedge(pred) and not has_hedge(gold) and interval_union(normalize(pred)) is None:
        if gold_values > 1:
            pred = re.sub(r"\\text\{\s*(?:or|and)\s*\}|\b(?:or|and)\b|\\lor|\\vee", ",", pred)
        else:
            return MathResult("incorrect", pred, "guard", "hedged_answer", details)
    claim = _claim_about(normalize(pred), norm_gold)
    if claim:  # "x \ne 7", "\gcd(x, 7)": not a value
        return MathResult("incorrect", pred, "guard", claim, details)
    alts = None
    if gold_values == 1 and alternatives(norm_gold) is None and interval_union(normalize(pred)) is None:
        alts = alternatives(normalize(pred))
    if alts is not None:  # rule 3: "2 или 3", "2 := 3", "2 \\approx 3" are one value only if every side agrees
        if len(alts) > 1 and not all(compare(alts[0], a, rel_tol)[0] for a in alts[1:]):
            details["candidates"] = alts
            return MathResult("incorrect", pred, "guard", "hedged_answer", details)
        pred = alts[-1]
    false_side = _false_side(normalize(pred), norm_gold, gold_values, rel_tol)
    if false_side is not None:  # "8 = 7", "x = 8 = 7", "2+2 = 7": graded by its right-hand side before
        details["candidates"] = [false_side]
        return MathResult("incorrect", pred, "guard", "false_equation", details)
    pred_n = normalize(pred)
    if gold_values == 1 and _PM.search(pred_n) and not _PM.search(norm_gold):
        return MathResult("incorrect", pred, "guard", "plus_minus_for_one_value", details)
    if gold_values == 1 and parse_number(norm_gold) is not None and parse_number(pred_n) is None:
        listed = split_list(pred_n)
        if listed is not None and listed[0] in ("bare", "set") and len(listed[1]) > 1:
            return MathResult("incorrect", pred, "guard", "list_for_single_answer", details)
    if pred_n != norm_gold:
        with budget_paused():
            gold_cost = too_costly(norm_gold)
        cost = too_costly(pred_n) if gold_cost is None else None
        if cost is not None:
            details["cost"] = cost
            return MathResult("incorrect", pred, "guard", "answer_too_costly", details)
    equal, layer = compare(gold, pred, rel_tol)
    if layer == "unparsed" and not _mv_parse(gold) and as_word(norm_gold) is None:
        return _error(f"the ground-truth answer {gold[:80]!r} could not be read as math; fix the label")
    return MathResult("correct" if equal else "incorrect", pred, layer, None, details)


@lru_cache(maxsize=16384)
def _unwrap_gold(gold: str) -> str:
    """A gold written as a whole answer (``$\\boxed{7}$``) is graded by its box."""
    found = [(b, st, en) for b, st, en in _boxes(gold) if b.strip()]
    if not found:
        if len(gold) > 60:  # a whole solution as the label: its final answer
            ex = extract_answer(gold, think="ignore")
            if ex.answer and ex.strategy in ("final_answer", "answer_line"):
                return ex.answer
        return gold
    # boxes next to each other with only separators between them are one multi-value gold
    run = [found[-1]]
    for prev in reversed(found[:-1]):
        between = gold[prev[2] : run[0][1]]
        if not _SEPARATORS.fullmatch(between):
            break
        run.insert(0, prev)
    values: list[str] = []
    for b, _st, _en in run:
        if normalize(b) not in {normalize(v) for v in values}:
            values.append(b)
    if len(values) == 1 and "%" not in values[0] and _PERCENT_AFTER.match(gold, run[-1][2]):
        return values[0] + "\\%"  # "$\boxed{20}$ percent": the label's value is 20%
    return ", ".join(values)


_PERCENT_AFTER = re.compile(r"[\s$]*(?:\\?%|percent\b|per\s*cent\b)", re.IGNORECASE)
