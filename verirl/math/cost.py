"""What an answer may cost the grader (policy rule 13): a pathological answer is ``incorrect``.

A policy under RL pressure learns whatever earns more than a wrong answer. If an answer the
symbolic layer cannot settle became verdict ``timeout`` (a null reward), ``e^{e^{e^{e^{e}}}}``
would out-score a wrong number under DAPO's -1/+1. So the answer's own cost is bounded here,
apart from the item's kill deadline (which stays for our side: an overloaded machine, a lost
worker, a gold that is itself too costly):

* :func:`too_costly` refuses, before sympy, what no budget can interrupt (big-integer work in
  C never returns to the interpreter): power towers, numeric powers past ``MAX_POWER_DIGITS``
  digits, symbolic powers past ``MAX_SYMBOLIC_EXPONENT``, sums and products over more than
  ``MAX_TERMS`` terms, nesting deeper than ``MAX_DEPTH``.
* :func:`answer_budget` gives the rest ``ANSWER_CPU_S`` seconds of this process's CPU time
  (``ITIMER_PROF``: a loaded machine does not eat it, and it never meets the ``SIGALRM`` that
  math-verify and RQ use). When it runs out the comparison stops with :class:`AnswerTooCostly`.
  The gold's own parsing runs outside it (:func:`budget_paused`).
"""

from __future__ import annotations

import math
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

ANSWER_CPU_S = 1.0
MAX_POWER_DIGITS = 10_000
MAX_SYMBOLIC_EXPONENT = 1_000
MAX_TERMS = 10_000
MAX_DEPTH = 40
MAX_TOWER = 3


class AnswerTooCostly(BaseException):
    """The answer could not be settled within its budget (a BaseException: sympy's
    ``except Exception`` blocks must not swallow it)."""


# --------------------------------------------------------------------------- before sympy

_NUM = re.compile(r"\d+(?:\.\d+)?")


def _group(s: str, i: int) -> tuple[str, int]:
    """The exponent or bound starting at ``s[i]``: a ``{...}`` group or one token; (text, end)."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i < len(s) and s[i] == "{":
        depth = 0
        for j in range(i, len(s)):
            depth += {"{": 1, "}": -1}.get(s[j], 0)
            if depth == 0:
                return s[i + 1 : j], j + 1
        return s[i + 1 :], len(s)
    m = re.compile(r"\\[a-zA-Z]+|\d+(?:\.\d+)?|.").match(s, i)
    return (m.group(0), m.end()) if m else ("", i)


def _value_log10(text: str) -> float | None:
    """log10 of a plain number or numeric power tower (``10^{10^6}``), else None."""
    t = text.strip().strip("()").replace(" ", "")
    if _NUM.fullmatch(t):
        v = float(t)
        return math.log10(v) if v > 0 else -math.inf
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\^(.+)", t)
    if not m:
        return None
    base = float(m.group(1))
    exp_text, end = _group(m.group(2), 0)
    if end != len(m.group(2)):
        return None
    inner = _value_log10(exp_text)
    if inner is None or base <= 0:
        return None
    if base <= 1:
        return 0.0
    if inner > 300:
        return math.inf
    return 10.0**inner * math.log10(base)


def _tower(s: str) -> int:
    """How many ``^`` are stacked: ``e^{e^{e}}`` is 2."""
    best = 0
    for m in re.finditer(r"\^", s):
        exp, _ = _group(s, m.end())
        best = max(best, 1 + _tower(exp))
        if best > MAX_TOWER:
            return best
    return best


_UNEVALUATED = re.compile(r"\\(?:i{1,3}nt|oint|lim|limsup|liminf|int\\limits)(?![a-zA-Z])|\\operatorname\{(?:Li|li)\}")


_FACTORIAL = re.compile(r"\\Gamma|\\operatorname\s*\{\s*Gamma\s*\}|\\binom|!")


def _nested_factorial(answer: str) -> str | None:
    """``\\Gamma(\\Gamma(10))``, ``(10!)!``: a factorial of a factorial of anything but a tiny number
    (C code in gmpy/mpmath computes it and no signal stops that)."""
    hits = _FACTORIAL.findall(answer)
    if len(hits) < 2:
        return None
    big = [int(n) for n in re.findall(r"\d+", answer) if len(n) < 8]
    if len(hits) >= 3 or any(n >= 9 for n in big) or len(big) < len(re.findall(r"\d+", answer)):
        # one factorial-like operator applied to an expression holding another
        for m in re.finditer(r"\\Gamma|\\operatorname\s*\{\s*Gamma\s*\}|\\binom", answer):
            arg, _ = _group(answer, m.end()) if answer[m.end() : m.end() + 1] == "{" else _paren(answer, m.end())
            if _FACTORIAL.search(arg):
                return "a factorial of a factorial"
        for m in re.finditer(r"[)}\]]\s*!", answer):
            if _FACTORIAL.search(_opening_group(answer, m.start())):
                return "a factorial of a factorial"
        if re.search(r"!\s*!", answer) and any(n >= 9 for n in big):
            return "a factorial of a factorial"
    return None


def _paren(s: str, i: int) -> tuple[str, int]:
    """The ``(...)`` group at ``s[i]`` (after spaces, ``\\left``), or ``("", i)``."""
    m = re.compile(r"\s*(?:\\left)?\s*\(").match(s, i)
    if not m:
        return "", i
    depth = 1
    for j in range(m.end(), len(s)):
        depth += {"(": 1, ")": -1}.get(s[j], 0)
        if depth == 0:
            return s[m.end() : j], j + 1
    return s[m.end() :], len(s)


def _opening_group(s: str, close: int) -> str:
    """The text of the bracket group that closes at ``s[close]``."""
    depth = 0
    for j in range(close, -1, -1):
        depth += {")": 1, "}": 1, "]": 1, "(": -1, "{": -1, "[": -1}.get(s[j], 0)
        if depth == 0:
            return s[j + 1 : close]
    return s[:close]


def too_costly(answer: str) -> str | None:
    """Why ``answer`` cannot be settled cheaply (policy rule 13), or None."""
    depth = top = 0
    for ch in answer:
        if ch in "({[":
            depth += 1
            top = max(top, depth)
        elif ch in ")}]":
            depth -= 1
    if top > MAX_DEPTH:
        return f"brackets nested {top} deep"
    if _tower(answer) > MAX_TOWER:
        return "a power tower"
    if _UNEVALUATED.search(answer):
        return "an unevaluated integral or limit"
    for m in re.finditer(r"\\(sum|prod)(?![a-zA-Z])", answer):
        rest = answer[m.end() :]
        bounds: dict[str, float | None] = {}
        i = 0
        for mark in ("_", "^"):
            j = re.compile(r"\s*" + re.escape(mark) + r"\s*").match(rest, i)
            if not j:
                continue
            text, i = _group(rest, j.end())
            if mark == "_":
                text = text.split("=")[-1]
            bounds[mark] = _value_log10(text)
        lo, hi = bounds.get("_"), bounds.get("^")
        if lo is None or hi is None:
            return f"an unevaluated \\{m.group(1)} (a series, or symbolic bounds)"
        if hi > math.log10(MAX_TERMS):
            return f"a \\{m.group(1)} over more than {MAX_TERMS} terms"
    for m in re.finditer(r"\^", answer):
        exp, _ = _group(answer, m.end())
        size = _value_log10(exp)
        if size is None or size < 1:
            continue
        before = answer[: m.start()].rstrip()
        base = re.search(r"(\d+(?:\.\d+)?)$", before)
        if base and not before[: base.start()].rstrip().endswith(("^", "_")):
            b = float(base.group(1))
            if b > 1 and (size > 300 or 10.0**size * math.log10(b) > MAX_POWER_DIGITS):
                return f"a power with more than {MAX_POWER_DIGITS} digits"
        elif size > math.log10(MAX_SYMBOLIC_EXPONENT):
            return f"an exponent above {MAX_SYMBOLIC_EXPONENT}"
    nested = _nested_factorial(answer)
    if nested:
        return nested
    for m in re.finditer(r"(\d+)\s*!|\\(?:Gamma|binom|gcd|lcm|operatorname\{(?:gcd|lcm)\})", answer):
        window = answer[m.start() : m.start() + 200]
        for num in re.finditer(r"\d+(?:\s*\^\s*(?:\{[^{}]*\}|\d+))?", window):
            size = _value_log10(num.group(0).replace(" ", ""))
            if size is not None and size > 6 and m.group(1) is not None:
                return "a factorial of a huge number"
            if size is not None and size > MAX_POWER_DIGITS:
                return f"a number with more than {MAX_POWER_DIGITS} digits"
    return None


# --------------------------------------------------------------------------- the CPU budget

_state = threading.local()


def _expired(signum: int, frame: object) -> None:
    raise AnswerTooCostly(f"the answer took more than {ANSWER_CPU_S:g} s of CPU to compare")


@contextmanager
def answer_budget(seconds: float = ANSWER_CPU_S) -> Iterator[None]:
    """Bound the comparison of one answer by ``seconds`` of this process's CPU time.

    Only the main thread can take a signal; elsewhere (a caller grading in a thread) the
    pre-checks of :func:`too_costly` and the caller's own deadline are what bound it.
    Re-entrant: an inner budget (a list's elements) runs inside the outer one.
    """
    if threading.current_thread() is not threading.main_thread() or getattr(_state, "armed", False):
        yield
        return
    old = signal.signal(signal.SIGPROF, _expired)
    _state.armed = True
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        _state.armed = False
        signal.signal(signal.SIGPROF, old)


@contextmanager
def budget_paused() -> Iterator[None]:
    """Stop the answer's clock (parsing the gold is our cost, not the answer's)."""
    if not getattr(_state, "armed", False):
        yield
        return
    left, _ = signal.setitimer(signal.ITIMER_PROF, 0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, max(left, 1e-6))
