"""How a math answer is read: normalisation, numbers, choices, words and lists.

The pieces :mod:`verirl.math.grader` compares with (policy rules 4 to 12; intervals live in
:mod:`verirl.math.intervals`). Everything here
works on tokens: whitespace between two numbers is a boundary (``3 4`` is two numbers,
``1, 125`` two values, ``2 1/2`` a mixed number), never deleted to join them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

DEFAULT_FLOAT_REL_TOL = 1e-6

# --------------------------------------------------------------------------- normalisation

_TEXT_CMD = re.compile(
    r"\\(?:text|textbf|textit|textrm|textsf|texttt|mathrm|mathbf|mathit|mathcal|mathsf|boldsymbol|bm|mbox|hbox"
    r"|operatorname|textnormal|emph)\s*\{([^{}]*)\}"
)
_SPACING = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg)(?![a-zA-Z])|\\displaystyle|\\!")
_THIN = re.compile(r"(?<!\\)\\[,;: ]|\\quad|\\qquad|~|\\enspace|\\thinspace")
_DEGREE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree|\^\{\\text\{o\}\}")
_UNITS = (
    r"(?:units?|degrees?|cm|m|km|mm|inches|inch|in|feet|foot|ft|miles?|mph|hours?|hrs?|minutes?|mins?|"
    r"seconds?|sec|s|days?|weeks?|years?|dollars?|cents?|meters?|metres?|square|sq|cubic|kg|g|grams?|pounds?|lbs?|"
    r"ounces?|oz|liters?|litres?|L|ml|mL|gallons?|points?|people|students|ways|euros?|yuan)"
)
_TRAILING_UNIT = re.compile(r"^(.*?\d)\.?\s*" + _UNITS + r"(?:\^?\{?[23]\}?|²|³)?(?:\s+(?:per|each)\s+\w+)?\.?$")
_TEXT_UNIT = re.compile(
    r"(?<=[^\s{(])\s*\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mathit|mbox|hbox)\s*\{\s*" + _UNITS
    + r"(?:\^?\{?[23]\}?|²|³)?\s*\}(?:\^\{?[23]\}?|²|³)?\s*$"
)
_MATH_THEN_UNIT = re.compile(r"^\$([^$]+)\$\s*" + _UNITS + r"\.?$")
_NUM_THEN_WORDS = re.compile(r"^([+-]?\$?\d[\d,]*(?:\.\d+)?%?)\s+([A-Za-z][A-Za-z ]*)$")
# words after a number that make it a claim about the number, not a unit ("7 is wrong", "7 if n odd")
_CLAUSE_WORDS = (
    r"\b(?:is|are|was|were|be|if|iff|when|whenever|unless|otherwise|except|not|no|never|wrong|incorrect|false|"
    r"maybe|perhaps|possibly|probably|approximately|about|roughly|but|than|for|where|only|else|"
    r"hundreds?|thousands?|millions?|billions?|trillions?|dozens?|halves|halfs?|thirds?|quarters?|squared|cubed|"
    r"factorial|percent|k|M|B)\b"
)
_EMPTY = re.compile(
    r"^(?:\\emptyset|\\varnothing|\\\{\s*\\\}|\{\s*\}|∅|\\O|no\s+(?:real\s+)?solutions?|none|no\s+such\s+\w+|"
    r"there\s+(?:are|is)\s+no\s+(?:real\s+)?solutions?)$",
    re.IGNORECASE,
)


def _strip_outer(s: str) -> str:
    for _ in range(3):
        before = s
        s = s.strip()
        m = _MATH_THEN_UNIT.match(s)  # "$125$ miles"
        if m:
            s = m.group(1).strip()
        s = re.sub(r"^\$+|(?<!\\)\$+$", "", s).strip()
        s = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", s).strip()
        m = re.match(r"\\(?:boxed|fbox)\s*\{", s)
        if m and _group_end(s, m.end() - 1) == len(s):
            s = s[m.end() : -1]
        if s == before:
            break
    return s


def _group_end(s: str, start: int) -> int:
    """Index after the ``{...}`` group opening at ``s[start]`` (-1 when unclosed)."""
    depth, k = 0, start
    while k < len(s):
        c = s[k]
        if c == "\\":
            k += 2
            continue
        depth += (c == "{") - (c == "}")
        if depth == 0:
            return k + 1
        k += 1
    return -1


def _join_spaces(s: str) -> str:
    """Drop whitespace except between two word-like tokens (``3 4`` stays two numbers)."""
    s = re.sub(r",\s+", ",\x00", s)  # a comma followed by a space separates values
    s = re.sub(r"(\\[a-zA-Z]+)\s+(?=[^a-zA-Z\s])", r"\1", s)  # "\le 5" -> "\le5"
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"(?<![\w.]) | (?![\w.\\])", "", s)
    s = re.sub(r"(?<=[\w.]) (?=\\)", "", s)  # "2 \pi" -> "2\pi"
    return s.replace("\x00", " ")



_EQ_CALL = re.compile(r"^\s*Eq\s*\((.*)\)\s*$", re.DOTALL)


def _sympy_syntax(s: str) -> str:
    """Answers written in sympy syntax (rule 9): ``Eq(x**2/4 + y**2/3, 1)`` is ``x^2/4 + y^2/3 = 1``.

    Read as text, never evaluated: ``Eq(a, b)`` with one top-level comma becomes ``a = b``
    and ``**`` becomes ``^``; anything else is left alone.
    """
    m = _EQ_CALL.match(s.replace("\\left(", "(").replace("\\right)", ")")) if "Eq" in s else None
    if m:
        sides = split_top(m.group(1))
        if len(sides) == 2 and all(sides):
            s = f"{sides[0]} = {sides[1]}"
    if "**" in s and "\\" not in s:
        s = s.replace("**", "^")
    return s


@lru_cache(maxsize=65536)
def normalize(ans: str) -> str:
    """A canonical spelling of an answer (safe rewrites only; tokens are never joined)."""
    s = _sympy_syntax(_strip_outer(ans))
    s = s.replace("−", "-").replace("–", "-").replace("×", "\\times ").replace("·", "\\cdot ")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = s.replace("\\geqslant", "\\ge").replace("\\leqslant", "\\le").replace("\\geq", "\\ge").replace("\\leq", "\\le")
    s = s.replace(">=", "\\ge").replace("<=", "\\le").replace("≥", "\\ge").replace("≤", "\\le").replace("\\neq", "\\ne")
    s = re.sub(r"\\not\s*=|≠|!=", r"\\ne ", s)  # every spelling of "is not equal to"
    if "\\begin" not in s:
        s = re.sub(r"\\\\(?=[a-zA-Z])", r"\\", s)  # "\\frac" written with a doubled backslash
    s = _DEGREE.sub("", s)
    s = re.sub(r"(?<=\d)\s*(?:\{\s*,\s*\}\s*|\\,|,\\!\s*|\\!,\s*)(?=\d{3}(?!\d))", ",", s)  # 1{,}000  1\,000  16,\!386
    s = _SPACING.sub("", s)
    s = re.sub(r"^\\?\(?[a-zA-Z](?:\s*,\s*[a-zA-Z])+\\?\)?\s*=\s*(?=[(\\[{])", "", s)  # (p,q)=(3,2)
    s = re.sub(r"(?<!\\);", ", ", s)  # "-12; -11" and "(0;0;0)": semicolons separate values
    s = _THIN.sub(" ", s)
    s = _TEXT_UNIT.sub("", s)  # "6\sqrt{2}\text{ units}", "10\mbox{ cm}^2": a unit written as text (rule 6)
    for _ in range(3):
        s2 = _TEXT_CMD.sub(r" \1 ", s)
        if s2 == s:
            break
        s = s2
    s = s.replace("\\%", "%").replace("\\$", "").replace("€", "").replace("£", "")
    s = re.sub(r"\s*(?:percent|per\s*cent)\b", "%", s, flags=re.IGNORECASE)
    s = _join_spaces(s)
    s = re.sub(r"^\$|\$$", "", s).strip()  # "1,000.99$": a currency sign after the number
    s = s.rstrip(".").strip()
    m = _TRAILING_UNIT.match(s)
    if m:
        s = m.group(1).rstrip(".")
    m = _NUM_THEN_WORDS.match(s)
    if m and not re.search(r"\b(?:or|and|to|times|over|plus|minus|i)\b|" + _CLAUSE_WORDS, m.group(2), re.IGNORECASE):
        s = m.group(1)
    if _EMPTY.match(s):
        return "\\emptyset"
    return s


def strip_assignment(s: str) -> str:
    """``x=3`` -> ``3`` (a single-letter variable, one '=')."""
    m = re.match(r"^[a-zA-Z](?:_\{?\w+\}?)?=([^=<>]+)$", s)
    if m:
        return m.group(1)
    m = re.match(r"^(-?)(\d*)[a-zA-Z]=([^=<>]+)$", s)  # -x=3 is x=-3; 2x=6 is x=3
    if m and (m.group(1) or m.group(2)):
        coef = int(m.group(2) or 1) * (-1 if m.group(1) else 1)
        return f"-({m.group(3)})" if coef == -1 else f"\\frac{{{m.group(3)}}}{{{coef}}}"
    return s


# --------------------------------------------------------------------------- numbers

_INT = r"(?:[1-9]\d{0,2}(?:,\d{3})+|\d+)"
_NUM_RE = re.compile(
    rf"^([+-]?)({_INT}(?:\.\d*)?|\.\d+)"
    r"(?:(?:e|E|\\times10\^|\\cdot10\^|\*10\^|\\times 10\^)\{?([+-]?\d+)\}?)?(%?)$"
)
_DEC_COMMA_RE = re.compile(r"^([+-]?)(\d+),(\d+)(%?)$")  # 1,22  0,111  1000,99 (not a thousands group)
_FRAC_RE = re.compile(r"^([+-]?)\\frac(?:\{([+-]?\d+)\}|(\d))(?:\{(\d+)\}|(\d))(%?)$")
_SLASH_RE = re.compile(r"^([+-]?)(\d+)/(\d+)(%?)$")
_MIXED_RE = re.compile(r"^([+-]?)(\d+)(?:\\frac\{(\d+)\}\{(\d+)\}| (\d+)/(\d+))$")


@dataclass(frozen=True)
class Number:
    value: Fraction
    digits: int  # significant digits when written as a decimal, else 0 (exact)
    percent: bool


def _sig(body: str) -> int:
    return len(body.replace(",", "").replace(".", "").lstrip("0")) if "." in body else 0


@lru_cache(maxsize=65536)
def parse_number(s: str) -> Number | None:
    """A plain number written in ``s`` (already normalised), or None."""
    if not s or len(s) > 80:
        return None
    if s.startswith("-") and s[1:2] == "\\":  # -\frac{1}{2}
        inner = parse_number(s[1:])
        return Number(-inner.value, inner.digits, inner.percent) if inner else None
    m = _NUM_RE.match(s)
    if m:
        sign, body, exp, pct = m.groups()
        try:
            v = Fraction(body.replace(",", ""))
        except (ValueError, ZeroDivisionError):
            return None
        digits = _sig(body)
        if exp is not None:
            e = int(exp)
            if abs(e) > 400:
                return None
            v *= Fraction(10) ** e
        return Number(-v if sign == "-" else v, digits, bool(pct))
    m = re.match(r"^([+-]?)10\^(?:\{([+-]?\d{1,3})\}|(\d))$", s)  # 10^{-5}
    if m:
        v = Fraction(10) ** int(m.group(2) or m.group(3))
        return Number(-v if m.group(1) == "-" else v, 0, False)
    m = _DEC_COMMA_RE.match(s)
    if m and (len(m.group(3)) != 3 or m.group(2) == "0" or len(m.group(2)) > 3):
        sign, a, b, pct = m.groups()
        v = Fraction(f"{a}.{b}")
        return Number(-v if sign == "-" else v, _sig(f"{a}.{b}"), bool(pct))
    m = _FRAC_RE.match(s)
    if m:
        sign, a1, a2, b1, b2, pct = m.groups()
        a, b = int(a1 or a2), int(b1 or b2)
        if b == 0:
            return None
        v = Fraction(a, b)
        return Number(-v if sign == "-" else v, 0, bool(pct))
    m = _SLASH_RE.match(s)
    if m:
        sign, a, b, pct = m.groups()
        if int(b) == 0:
            return None
        v = Fraction(int(a), int(b))
        return Number(-v if sign == "-" else v, 0, bool(pct))
    m = _MIXED_RE.match(s)
    if m:
        sign, w, a1, b1, a2, b2 = m.groups()
        a, b = int(a1 or a2), int(b1 or b2)
        if b == 0 or a >= b:
            return None
        v = int(w) + Fraction(a, b)
        return Number(-v if sign == "-" else v, 0, False)
    return None


def _terminates(v: Fraction) -> bool:
    """Whether ``v`` has a finite decimal expansion (its denominator is 2^a 5^b)."""
    d = v.denominator
    for f in (2, 5):
        while d % f == 0:
            d //= f
    return d == 1


def close(gold: Fraction, pred: Fraction, pred_digits: int, gold_digits: int, rel_tol: float | None) -> bool:
    """Equal values; a decimal approximating a non-terminating value (1/3) may be off by 1e-6
    relative or by its own last-digit rounding (when it has at least 6 significant digits).
    Two terminating values are compared exactly. Never an absolute tolerance."""
    if gold == pred:
        return True
    # rule 4: a gold with a terminating decimal form (7, 1/4, 2.5) is matched exactly (7.000001 is not 7)
    approx = (pred_digits and not _terminates(gold)) or (gold_digits and not _terminates(pred))
    if rel_tol is None and not approx:
        # a tolerance is only for a decimal approximating an exact value: a decimal answer for an
        # exact gold (0.333333 for 1/3, 0.9999999 for 1), or a rounded decimal gold for a value with
        # no finite decimal expansion (0.666667 for 2/3). Exact answers (2.5e6 is exactly 2500000)
        # and a gold written as a terminating decimal are compared exactly: 1 is not 1.000001,
        # 3.1400001 is not 3.14.
        return False
    scale = max(abs(gold), abs(pred))
    diff = abs(gold - pred)
    tol = DEFAULT_FLOAT_REL_TOL if rel_tol is None else rel_tol
    if diff <= Fraction(tol) * scale:
        return True
    if rel_tol is None:
        # 0.142857 for 1/7: right to the 6 digits it wrote (the answer's, or a rounded gold's)
        for dec, digits in ((pred, pred_digits), (gold, gold_digits)):
            if digits >= 6 and dec != 0:
                exp = len(str(int(abs(dec)))) if abs(dec) >= 1 else -len(
                    re.match(r"0\.(0*)", f"{float(abs(dec)):.20f}").group(1)  # type: ignore[union-attr]
                )
                unit = Fraction(10) ** (exp - digits)
                if diff <= unit / 2 * Fraction(1000001, 1000000):
                    return True
    return False


def numbers_equal(gold: Number, pred: Number, rel_tol: float | None) -> bool:
    g, p = gold.value, pred.value
    cands = [g]
    if gold.percent:
        cands = [g, g / 100] if not pred.percent else [g]  # 25% = 25 = 0.25 = 1/4
    elif pred.percent:
        # rule 5: "25%" is right for a gold 0.25 (its value) and for a gold 25 (MATH golds of
        # "what percent" problems omit the sign); bare numbers get no x100 leniency
        return close(g, p / 100, pred.digits, gold.digits, rel_tol) or close(g, p, pred.digits, gold.digits, rel_tol)
    return any(close(c, p, pred.digits, gold.digits, rel_tol) for c in cands)


# --------------------------------------------------------------------------- choices and words

_LETTER = re.compile(r"^\(?([A-Ea-e])\)?$")
_WORD_RE = re.compile(r"^[A-Za-z][A-Za-z' \-]*$")
_HEDGE_RE = re.compile(r"\\text\{\s*or\s*\}|\bor\b(?!\s+(?:equivalently|equally|simply|in\s+other))|\\lor|\\vee|\\text\{\s*and\s*/\s*or\s*\}|\(or\b|\bpossibly\b")


def has_hedge(s: str) -> bool:
    return bool(_HEDGE_RE.search(s))


# "or" in the languages models answer in, and relations that are no equality (policy rule 3)
_OR_WORDS = (
    "or|или|либо|或者|或|还是|または|또는|혹은|oder|ou|oppure|o|of|lub|albo|nebo|veya|hoặc|atau|أو|או|या|eller|tai|vagy|sau"
)
_RELATIONS = r":=|=:|\\coloneqq|\\eqqcolon|\\equiv|\\approx|\\simeq|\\sim|\\cong|\\doteq|\\to|\\rightarrow|\\Rightarrow|\\mapsto|\\neq|\\ne(?![a-zA-Z])"
_ALT_SPLIT = re.compile(rf"\s*(?:(?<![^\W\d_])(?:{_OR_WORDS})(?![^\W\d_])|{_RELATIONS})\s*")
_LABEL = re.compile(r"^[^\W\d_]{2,}\s*:(?!=)\s*")  # "Ответ: 2", "Answer: 2"
_MATHY = re.compile(r"[\d\\^_=+*/]")
_BARE_VAR = re.compile(r"^[a-zA-Z](?:_\{?\w+\}?)?$")


def alternatives(s: str) -> list[str] | None:
    """The sides of ``2 или 3``, ``2 \\text{ 或 } 3``, ``2 := 3``, ``2 \\approx 3`` (normalised text), or None.

    A leading bare variable (``x \\approx 2``) and a leading label (``Ответ: 2``) are not sides.
    Only top-level separators count: ``\\{x \\to 3\\}`` is one side.
    """
    text = _LABEL.sub("", s.strip())
    if not _ALT_SPLIT.search(text):
        return [text] if text != s.strip() and text else None
    parts: list[str] = []
    depth = last = 0
    for m in _ALT_SPLIT.finditer(text):
        depth = sum({"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(c, 0) for c in text[: m.start()])
        if depth == 0 and m.start() > 0 and m.end() < len(text):
            parts.append(text[last : m.start()])
            last = m.end()
    parts.append(text[last:])
    parts = [_LABEL.sub("", p.strip()) for p in parts if p.strip()]
    if len(parts) > 1 and not all(_MATHY.search(p) or len(p) <= 2 for p in parts):
        return None  # words around a word ("none of these"): a text answer, not two values
    if len(parts) > 1 and _BARE_VAR.match(parts[0]):
        parts = parts[1:]
    return parts if len(parts) > 1 or parts != [text] else None


def as_choice(s: str, strict: bool = True) -> str | None:
    """The option letter ``s`` names; with ``strict=False`` decorations and a trailing value are allowed
    (``(C) x = 42``, ``C. 42``), but no second option letter."""
    s = s.strip().strip("*").strip()
    m = _LETTER.match(s)
    if m:
        return m.group(1).upper()
    if strict:
        return None
    m = re.match(r"^(?:option|choice)?\s*\(?([A-E])(?:\)|\.|:|\s|$)(.*)$", s, re.IGNORECASE | re.DOTALL)
    if not m:
        return None
    letter, rest = m.group(1), m.group(2)
    if not re.match(r"^\(", s) and not re.match(r"^[A-E][.):]", s) and rest.strip() and letter.islower():
        return None
    if re.search(r"(?<![A-Za-z\\])\(?[A-E](?![A-Za-z])", rest):
        return None
    return letter.upper()


def as_word(s: str) -> str | None:
    s = s.strip()
    if _WORD_RE.match(s) and not re.fullmatch(r"[a-zA-Z]", s) and "\\" not in s:
        return re.sub(r"\s+", " ", s.lower().replace("-", " ")).strip()
    return None


# --------------------------------------------------------------------------- lists, sets, tuples


def split_top(s: str, seps: str = ",") -> list[str]:
    parts, depth, cur, k = [], 0, [], 0
    while k < len(s):
        c = s[k]
        if c == "\\" and k + 1 < len(s) and s[k + 1] in "{}":
            depth += 1 if s[k + 1] == "{" else -1
            cur.append(s[k : k + 2])
            k += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c in seps and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        k += 1
    parts.append("".join(cur).strip())
    return parts


def _expand_pm(s: str) -> list[str] | None:
    m = re.fullmatch(r"(.*?)\\(pm|mp)(.+)", s)
    if not m or "\\pm" in m.group(3) or "\\mp" in m.group(3):
        return None
    a, b = m.group(1).strip(), m.group(3).strip()
    if not a:
        return [b, "-" + b if not b.startswith("-") else b[1:]]
    return [f"{a}+{b}", f"{a}-({b})"]


_GROUPED = re.compile(r"[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?%?")


@lru_cache(maxsize=65536)
def split_list(s: str) -> tuple[str, list[str]] | None:
    """(kind, items) when ``s`` is a set, tuple, bare list, ``\\pm`` pair or ``x=.., y=..``."""
    s = s.strip()
    if len(s) > 2000:
        return None
    m = re.fullmatch(r"\\\{(.*)\\\}", s, re.DOTALL) or re.fullmatch(r"\{(.*)\}", s, re.DOTALL)
    if m and split_top(m.group(1)) and (m.group(1).count("{") == m.group(1).count("}")):
        inner = m.group(1).strip()
        return "set", [] if not inner else [p for p in split_top(inner) if p]
    for o, c in ("()", "[]"):
        if s.startswith(o) and s.endswith(c) and len(s) > 2:
            inner = s[1:-1]
            if split_top(inner + ",")[-1] == "" and balanced(inner):
                parts = split_top(inner)
                if len(parts) >= 2:
                    return f"tuple{o}{c}", parts
    if _GROUPED.fullmatch(s):  # "50,625" is one number (rule 4), never the list 50, 625
        return "bare", [s]
    pm = _expand_pm(s)
    if pm is not None:
        return "pm", pm
    text = s
    if re.search(r"\b(?:and|or)\b|\\lor|\\vee", s):
        text = re.sub(r",?\s*(?:\\text\{\s*(?:and|or)\s*\}|\b(?:and|or)\b|\\lor|\\vee)\s*", ", ", s)
    parts = [p for p in split_top(text) if p]
    if len(parts) < 2:
        return "bare", parts
    assigns = [re.fullmatch(r"([a-zA-Z])(?:_\{?\w+\}?)?\s*=\s*([^=]+)", p) for p in parts]
    if all(assigns) and len({a.group(1) for a in assigns if a}) == len(assigns):
        ordered = sorted((a.group(1), a.group(2)) for a in assigns if a)
        return "assign", [v for _k, v in ordered]
    return "bare", [strip_assignment(p) for p in parts]


def balanced(s: str) -> bool:
    depth = 0
    for c in s:
        depth += (c in "([{") - (c in ")]}")
        if depth < 0:
            return False
    return depth == 0


# --------------------------------------------------------------------------- huge powers (policy rule 13)

_POW = re.compile(r"^\(?(\d+(?:\.\d+)?)\)?\^(?:\{(.+)\}|(\d+))$")


@lru_cache(maxsize=4096)
def power_log10(s: str) -> float | None:
    """log10 of a numeric power tower such as ``9^{9^{9^{9}}}`` (inf when even that overflows), else None.

    Lets the grader call ``10^{10^{10}}`` wrong for a plain-number gold without asking sympy to build it.
    """
    import math

    m = _POW.match(s.strip())
    if not m:
        return None
    base = float(m.group(1))
    if base <= 1:
        return None
    exp_text = m.group(2) if m.group(2) is not None else m.group(3)
    inner = power_log10(exp_text)
    if inner is None:
        try:
            exp = float(exp_text)
        except ValueError:
            return None
    else:
        exp = math.inf if inner > 300 else 10.0**inner
    return exp * math.log10(base) if exp != math.inf else math.inf
