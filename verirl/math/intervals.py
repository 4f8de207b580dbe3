"""Intervals, unions and one-variable inequalities as one value (policy rule 8).

``(0,\\infty)``, ``x>0`` and ``x \\in (0,\\infty)`` read the same; ``x\\le-2 \\text{ or } x\\ge 2`` is the
union ``(-\\infty,-2]\\cup[2,\\infty)``. Endpoints are compared by the caller's equality, brackets exactly,
the pieces of a union in any order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from verirl.math.values import balanced, split_top

_INF = {"\\infty", "+\\infty", "\\inf", "∞", "oo", "+oo", "infty", "\\infinity"}
_NINF = {"-\\infty", "-\\inf", "-∞", "-oo", "-infty"}
_REALS = re.compile(r"^(?:\\mathbb\{R\}|\\R|\\reals|all\s+real\s+numbers|\(-\\infty,\\?\+?\\infty\))$", re.IGNORECASE)
_REL = r"(\\le|\\ge|<|>|\\lt|\\gt)"


@dataclass(frozen=True)
class Piece:
    lo: str  # "-inf" or an endpoint expression
    lo_closed: bool
    hi: str
    hi_closed: bool


@dataclass(frozen=True)
class Union:
    pieces: tuple[Piece, ...]
    notation: str  # interval | inequality | tuple | empty


def _endpoint(s: str) -> str:
    s = s.strip()
    if s in _INF:
        return "inf"
    if s in _NINF:
        return "-inf"
    return s


def _one_interval(s: str) -> Piece | None:
    m = re.fullmatch(r"([\(\[\]])(.*)([\)\]\[])", s.strip(), re.DOTALL)
    if not m or not balanced(m.group(2)):
        return None
    parts = split_top(m.group(2))
    if len(parts) != 2 or not all(parts):
        return None
    lo, hi = _endpoint(parts[0]), _endpoint(parts[1])
    return Piece(lo, m.group(1) == "[", hi, m.group(3) == "]")


def _rel_kind(r: str) -> tuple[str, bool]:
    return ({"\\le": "<", "\\lt": "<", "<": "<", "\\ge": ">", "\\gt": ">", ">": ">"}[r], r in ("\\le", "\\ge"))


def _one_inequality(s: str) -> Piece | None:
    toks = re.split(_REL, s.strip())
    if len(toks) == 3:
        a, r, b = (t.strip() for t in toks)
        kind, closed = _rel_kind(r)
        if re.fullmatch(r"[a-zA-Z]", a) and b and not re.search(r"[a-zA-Z]{1}(?![a-zA-Z\\{])", b.replace("\\infty", "")):
            return Piece("-inf", False, b, closed) if kind == "<" else Piece(b, closed, "inf", False)
        if re.fullmatch(r"[a-zA-Z]", b) and a:
            return Piece(a, closed, "inf", False) if kind == "<" else Piece("-inf", False, a, closed)
        return None
    if len(toks) == 5:
        a, r1, v, r2, b = (t.strip() for t in toks)
        if not re.fullmatch(r"[a-zA-Z](?:\([a-z]\))?", v):
            return None
        k1, c1 = _rel_kind(r1)
        k2, c2 = _rel_kind(r2)
        if k1 == k2 == "<":
            return Piece(_endpoint(a), c1, _endpoint(b), c2)
        if k1 == k2 == ">":
            return Piece(_endpoint(b), c2, _endpoint(a), c1)
    return None


@lru_cache(maxsize=65536)
def interval_union(s: str) -> Union | None:
    """``s`` read as a union of intervals (interval or inequality notation), or None."""
    s = s.strip()
    if s == "\\emptyset":
        return Union((), "empty")
    s = re.sub(r"^[a-zA-Z]\s*\\in\s*", "", s)
    if _REALS.match(s):
        return Union((Piece("-inf", False, "inf", False),), "interval")
    pieces = re.split(r"\\cup|∪", s)
    if len(pieces) >= 1 and all(_one_interval(p) for p in pieces):
        got = tuple(p for p in (_one_interval(q) for q in pieces) if p)
        plain_pair = len(got) == 1 and s.startswith("(") and s.endswith(")") and "inf" not in (got[0].lo, got[0].hi)
        return Union(got, "tuple" if plain_pair else "interval")
    ors = re.split(r"\\text\{\s*or\s*\}|\bor\b|\\lor|\\vee|,", s)
    if all(_one_inequality(p) for p in ors):
        return Union(tuple(p for p in (_one_inequality(q) for q in ors) if p), "inequality")
    ands = re.split(r"\\text\{\s*and\s*\}|\band\b|\\land|\\wedge", s)
    if len(ands) == 2 and all(_one_inequality(p) for p in ands):
        a, b = (_one_inequality(p) for p in ands)
        assert a is not None and b is not None
        if a.lo == "-inf" and b.hi == "inf":
            a, b = b, a
        if a.hi == "inf" and b.lo == "-inf":
            return Union((Piece(a.lo, a.lo_closed, b.hi, b.hi_closed),), "inequality")
    return None


def intervals_equal(g: Union, p: Union, same: Callable[[str, str], bool]) -> bool:
    if len(g.pieces) != len(p.pieces):
        return False

    def eq(a: Piece, b: Piece) -> bool:
        if a.lo_closed != b.lo_closed or a.hi_closed != b.hi_closed:
            return False
        for x, y in ((a.lo, b.lo), (a.hi, b.hi)):
            if (x in ("inf", "-inf") or y in ("inf", "-inf")) and x != y:
                return False
            if x not in ("inf", "-inf") and not same(x, y):
                return False
        return True

    unused = list(p.pieces)
    for a in g.pieces:
        hit = next((k for k, b in enumerate(unused) if eq(a, b)), None)
        if hit is None:
            return False
        unused.pop(hit)
    return True
