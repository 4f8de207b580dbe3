"""Find the final answer a model committed to in its completion (policy rules 1 and 2).

Rules (also stated in README.md, "What counts as an answer (math)"):

* ``<think>...</think>``: with ``think="strip"`` (default) only the text after
  the last ``</think>`` is graded; a completion that opens ``<think>`` and never
  closes it was cut off while thinking and has no answer. ``think="required"``
  also treats a completion without ``</think>`` as having no answer (the prompt
  opened the block, as R1-distill templates do); ``think="ignore"`` grades the whole text.
* Strategies are tried in order and the first that finds something wins:
  ``boxed`` (the last ``\\boxed{}``/``\\fbox{}``, nested braces), ``answer_tag``
  (the last ``<answer>...</answer>``), then the written markers, of which the
  last one in the text wins: ``final_answer`` ("the final answer is X", "the
  answer is X", "答案是 X", "la réponse est X", ...) and ``answer_line``
  ("Answer: X" / "Final answer: X" at a line start or after a sentence, markdown
  bold allowed, GSM8K's ``#### X``, "答案：X", "Ответ: X", ...). Only when
  asked for: ``last_number``.
* A marker's answer is its span, not the rest of the sentence: a ``$...$`` /
  ``\\(...\\)`` group, a bold ``**...**`` group, a box, or plain text up to the end
  of the sentence ("The final answer is $7.78$. I hope it is correct." is 7.78).
* Every distinct boxed answer is returned in ``Extraction.candidates`` so that
  the grader can refuse completions that hedge between several answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

DEFAULT_STRATEGIES: tuple[str, ...] = ("boxed", "answer_tag", "final_answer", "answer_line")

_THINK_OPEN = re.compile(r"<\s*think\s*>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"<\s*/\s*think\s*>", re.IGNORECASE)
_BOX = re.compile(r"\\(?:boxed|fbox)(\s*)")
_BRACE_TOKEN = re.compile(r"\\[\s\S]|[{}]")
_TAG_OPEN = re.compile(r"<answer>", re.IGNORECASE)
_TAG_CLOSE = re.compile(r"</answer>", re.IGNORECASE)
# "the final answer is X" and its translations: the phrase commits to what follows.
_FINAL = re.compile(
    r"(?:\bfinal\s+answer\s*(?:(?:is|was|will\s+be|would\s+be)\s*[:=：]?|[:=：]|(?=\*\*|\s*\n|\s*\$|\s*\\\(|\s*\\boxed))"
    r"|\b(?:the|my|our)\s+answer\s+(?:is|would\s+be|will\s+be)\s*[:=：]?"
    r"|\bthe\s+answer\s*[:=：]"
    r"|答案(?:是|为|應為|应为)\s*[:：]?"
    r"|\bla\s+r[ée]ponse\s+(?:finale\s+)?est\s*:?"
    r"|\bdie\s+(?:endg[üu]ltige\s+)?antwort\s+(?:ist|lautet)\s*:?"
    r"|\bla\s+respuesta\s+(?:final\s+)?es\s*:?"
    r")",
    re.IGNORECASE,
)
_STRONG_FINAL = re.compile(r"\bfinal\s+answer\s*(?:is|was)?\s*[:=：]?", re.IGNORECASE)
# "Answer: X" at a line start or after a sentence (markdown allowed), GSM8K "#### X", translations.
_LINE = re.compile(
    r"(?:(?:^|(?<=[.!?。])\s|(?<=\*\*)|(?<=\n))[ \t>*_#]{0,16}"  # bounded: "**" * 80000 stays linear
    r"(?:final\s+answer|answer|r[ée]ponse(?:\s+finale)?|antwort|respuesta|ответ|答案)"
    r"[ \t*_]{0,16}(?:[:：]|\*\*\s*[:：])[ \t]*"
    r"|^[ \t]{0,16}####[ \t]*:?[ \t]*"
    r"|^[ \t*]{0,16}(?:final\s+)?answer[ \t*]{0,16}(?=\$|\\\(|\\\[))",
    re.IGNORECASE | re.MULTILINE,
)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
_NOT_ANSWERS = frozenset({"correct", "right", "wrong", "incorrect", "as follows", "below", "above", "not", "that"})
# where a written answer's clause ends and prose about it begins
_CLAUSE = re.compile(
    r",?\s+(?:I hope it is correct|which|because|since|as|so|then|where|when|whenever|at|but|if|unless|for|with|"
    r"given|provided|assuming|though|although|while|after|before|by|from|using|or\s+equivalently|or\s+equally|"
    r"or\s+simply|i\.e\.|e\.g\.|let)\b"
    r"|\s+\((?=\s*[A-Za-z]{2,})"
    r"|\s*[;:](?=\s)|\s*[，；（]|\s+-{1,2}\s|\s+—",
    re.IGNORECASE,
)
_HEDGE_TAIL = re.compile(
    r"(?:\s*[,;]|\s*-{1,2}|\s*—)?\s*\(?\s*(?:(?:but|and)\s+)?(?:not\s+sure|unsure|uncertain|wrong|incorrect|or\b(?!\s+(?:equivalently|equally|simply|in\s+other|written|expressed))|possibly|maybe|perhaps|probably|alternatively|otherwise|"
    r"if\b.*\b(?:is|be|gives?)\s+-?\d|it\s+(?:is|could|might|may|would)|could|might|may|rather|actually)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"\.(?=\s|$)|。|\n|;\s|!(?=\s|$)|\?(?=\s|$)")


@dataclass
class Extraction:
    answer: str | None
    strategy: str | None = None
    candidates: list[str] = field(default_factory=list)
    reason: str | None = None  # why there is no answer
    hedged: bool = False  # "X (or possibly Y)" / "X, or maybe Y" right after the answer


_OR = r"(?:or|otherwise|alternatively)\b(?!\s+(?:equivalently|equally|simply|in\s+other|written|expressed))"
_HEDGE_AFTER = re.compile(r"^[\s$.,;)\]}*]*(?:\(\s*)?" + _OR, re.IGNORECASE)
_HEDGE_IN_LINE = re.compile(r"[$)*]\s*,?\s*\(?\s*" + _OR, re.IGNORECASE)


def _last_answer_tag(region: str) -> str | None:
    """The content of the last ``<answer>...</answer>`` (one scan each way: unclosed tags stay linear)."""
    close = next(reversed(list(_TAG_CLOSE.finditer(region))), None)
    if close is None:
        return None
    opened = next(reversed(list(_TAG_OPEN.finditer(region, 0, close.start()))), None)
    return None if opened is None else region[opened.end() : close.start()]


# a retraction or a second candidate after the answer, on its line: "7. Actually no, 8.",
# "7, though 8 is also plausible", "7 (wait, it's 8)", "7 -- scratch that, 9"
_NUM_AHEAD = r"\$?\\?\(?\s*(?:\\[dt]?frac\s*\{)?(?P<n>-?\d[\d.,/]*)"
_RETRACT = re.compile(
    r"\b(?:actually|wait|hmm+|oops|sorry|correction|no)\b[\s,:;!.\-]*(?:(?:no|not|wrong|it'?s|it\s+is|"
    r"make\s+(?:it|that)|i\s+meant?|instead|the\s+(?:correct\s+|right\s+|real\s+)?answer\s+is)\b[\s,:;!.\-]*)*"
    + _NUM_AHEAD
    + r"|\b(?:though|although|but)\s+(?:maybe\s+|perhaps\s+|possibly\s+)?\$?(?P<m>-?\d[\d.,/]*|\(?[A-E]\)?(?![\w']))\$?\s+"
    r"(?:is|are|could|might|may|would|also)\b"
    r"|\b(?:alternatively|but\s+(?:it|the\s+answer|this)\s+(?:could|might|may)\s+(?:also\s+)?be)[\s,:]*\$?(?P<k>-?\d[\d.,/]*)"
    r"|\b(?:scratch\s+that|on\s+second\s+thought|make\s+that|i\s+mean)\b|\.{2,}\s*or\b",
    re.IGNORECASE,
)


_HEDGE_WORD = re.compile(
    r"(?:可能|不确定|也许|或许|大概|或者|还是|\b(?:vielleicht|oder|peut-[êe]tre|quiz[áa]s|maybe|possibly|perhaps|probably|"
    r"could|might|wrong|error|mistake|unsure|not\s+sure)\b)[^\d\n]{0,12}?\$?(?P<h>-?\d[\d.,/]*)"
    r"|(?P<o>-?\d[\d.,/]*)\$?\s+otherwise\b",
    re.IGNORECASE,
)
_ADJACENT = re.compile(r"^[\s$.]*(?:\(\s*\$?\s*|\$\s*)(?P<a>-?\d[\d.,/]*)")  # "$7$ ($8$)", "$7$ $8$"
_NEXT_LINE_RETRACTS = re.compile(r"^\s*(?:actually|wait|oops|correction|hmm+|no)\b[^\n]*\b(?:wrong|error|mistake|no)\b", re.IGNORECASE)


def _differs(other: str | None, answer: str | None) -> bool:
    return other is None or answer is None or normalize_loose(other).rstrip(".,") != normalize_loose(answer).rstrip(".,")


def _retracts(line: str, answer: str | None) -> bool:
    """Whether ``line`` (what follows an answer) takes it back or offers a different value."""
    for m in _RETRACT.finditer(line):
        if _differs(m.group("n") or m.group("m") or m.group("k"), answer):
            return True
    at = line.find(answer) if answer else -1
    rest = line[at + len(answer) :] if at >= 0 and answer else line
    adjacent = _ADJACENT.match(rest)
    if adjacent and answer is not None and _differs(adjacent.group("a"), answer):
        return True
    return any(_differs(m.group("h") or m.group("o"), answer) for m in _HEDGE_WORD.finditer(rest) if answer is not None)


def _line_and_retraction(text: str) -> str:
    """The first line of ``text``, and the next non-empty one when it starts by taking something back."""
    lines = text.split("\n")
    nxt = next((ln for ln in lines[1:4] if ln.strip()), "")
    return lines[0] + (" " + nxt if _NEXT_LINE_RETRACTS.match(nxt) else "")


def retracted_after(text: str, end: int, answer: str | None = None) -> bool:
    """Whether the rest of the answer's line takes it back or offers another value."""
    return _retracts(_line_and_retraction(text[end : end + 600]), answer)


# the answer said to be wrong right before or right after it: "It is not \\boxed{7}", "\\boxed{7} is incorrect",
# "Answer: 7 (wrong)"
_NEGATED_BEFORE = re.compile(r"\b(?:not|cannot\s+be|can'?t\s+be|isn'?t|never|no\s+longer)[\s:$*]*$", re.IGNORECASE)
_NEGATED_AFTER = re.compile(
    r"^[\s$.,*]*(?:\(\s*(?:wrong|incorrect|not\s+sure|unsure|uncertain|false)\b"
    r"|(?:is|was|seems|would\s+be)\s+(?:incorrect|wrong|false|not\s+(?:the\s+)?(?:answer|correct|right))\b)",
    re.IGNORECASE,
)


def negated_around(text: str, start: int, end: int) -> bool:
    """Whether the words right around an answer at ``text[start:end]`` say it is not the answer."""
    return bool(_NEGATED_BEFORE.search(text[max(0, start - 40) : start]) or _NEGATED_AFTER.match(text[end : end + 80]))


def hedged_after(text: str, end: int, answer: str | None = None) -> bool:
    """Whether the words right after an answer ending at ``end`` offer another answer."""
    return bool(_HEDGE_AFTER.match(text[end : end + 80])) or retracted_after(text, end, answer)


def answer_region(text: str, think: str = "strip") -> str | None:
    """The part of ``text`` to grade, or None when the model never left its thinking."""
    if think == "ignore":
        return text
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        after = text[closes[-1].end():]
        return None if _THINK_OPEN.search(after) else after  # a thinking block opened again and never closed
    if think == "required" or _THINK_OPEN.search(text):
        return None
    return text


@lru_cache(maxsize=8)
def _closers(text: str) -> dict[int, int]:
    """For every ``{`` of ``text`` that is closed, the index of its ``}`` (one pass; ``\\x`` skips x).

    One pass for the whole text, so that nine thousand unclosed ``\\boxed{`` cost one scan, not
    nine thousand (each of which would read to the end of the text).
    """
    out: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE_TOKEN.finditer(text):
        c = m.group()
        if c == "{":
            stack.append(m.start())
        elif c == "}" and stack:
            out[stack.pop()] = m.start()
    return out


def _read_braced(text: str, start: int) -> tuple[str, int] | None:
    """Content of the ``{...}`` group opening at ``text[start]`` and the index after it."""
    if start >= len(text) or text[start] != "{":
        return None
    end = _closers(text).get(start)
    return None if end is None else (text[start + 1 : end], end + 1)


def _boxes(text: str) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    inside = -1  # the end of the last box found: a box inside it is part of that answer
    for m in _BOX.finditer(text):
        if m.start() < inside:
            continue  # \boxed{\boxed{...}} 24,000 deep: one answer, not 24,000 copies of the text
        j = m.end()
        got = _read_braced(text, j)
        if got is not None:
            out.append((got[0].strip(), m.start(), got[1]))
            inside = got[1]
        elif m.group(1):  # "\boxed 5" form: one token
            tail = re.match(r"[^\s$]+", text[j : j + 1000])
            if tail:
                out.append((tail.group(0), m.start(), j + tail.end()))
    return out


def boxed_answers(text: str) -> list[str]:
    """Every ``\\boxed{...}`` / ``\\fbox{...}`` content, in order (``\\boxed 5`` too)."""
    return [b for b, _s, _e in _boxes(text)]


def _closing_dollar(text: str, start: int, double: bool) -> int:
    """Index of the ``$`` (or ``$$``) closing a math group opened before ``start``, or -1."""
    i = start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "$" and (not double or text.startswith("$$", i)):
            return i
        if c == "\n" and not double and text.startswith("\n\n", i):
            return -1
        i += 1
    return -1


def _strip_delims(ans: str) -> str:
    ans = ans.strip()
    for _ in range(3):
        before = ans
        ans = re.sub(r"^\*\*(.*)\*\*$", r"\1", ans, flags=re.DOTALL).strip()
        ans = re.sub(r"^\$\$(.*)\$\$$|^\$(.*)\$$", lambda m: m.group(1) or m.group(2) or "", ans, flags=re.DOTALL).strip()
        ans = re.sub(r"^\\\((.*)\\\)$|^\\\[(.*)\\\]$", lambda m: m.group(1) or m.group(2) or "", ans, flags=re.DOTALL).strip()
        if ans == before:
            break
    return ans


def take_span(text: str, pos: int = 0) -> str:
    """The answer that starts at ``text[pos]``: a math group, a bold group, a box or a sentence."""
    return _take_span(text, pos)[0]


def _take_span(text: str, pos: int = 0) -> tuple[str, bool]:
    """``take_span`` and whether the clause cut off after a plain-text answer offers another answer
    ("5 (or possibly 6)", "41, but maybe 42", "5 but if rounding it is 6")."""
    m = re.compile(r"[\s:：*_]*").match(text, pos)
    i = m.end() if m else pos
    rest = text[i:]
    box = _BOX.match(rest)
    if box:
        got = _boxes(rest[: box.end() + 10_000])
        if got and got[0][1] == 0:
            return got[0][0], False
    for opener, closer in (("\\(", "\\)"), ("\\[", "\\]")):
        if rest.startswith(opener):
            j = rest.find(closer, 2)
            if j > 0:
                return _clean_group(rest[2:j]), False
    if rest.startswith("$$"):
        j = _closing_dollar(rest, 2, True)
        if j > 0:
            return _clean_group(rest[2:j]), False
    elif rest.startswith("$"):
        j = _closing_dollar(rest, 1, False)
        if j > 0 and "\n" not in rest[1:j]:
            parts = [_clean_group(rest[1:j])]
            # "$x = 1$ or $x = 3$", "$1$, $2$ and $3$": one answer written in several groups
            while True:
                m = re.compile(r"[ \t]*(,[ \t]*(?:and|or)?|and|or)[ \t]+\$|[ \t]*,[ \t]*\$").match(rest, j + 1)
                if not m:
                    break
                k = _closing_dollar(rest, m.end(), False)
                if k < 0 or "\n" in rest[m.end() : k]:
                    break
                word = (m.group(1) or ",").strip(" \t,")
                parts.append(f" \\text{{ {word} }} " if word else ", ")
                parts.append(_clean_group(rest[m.end() : k]))
                j = k
            return "".join(parts), False
    if rest.startswith("**"):
        j = rest.find("**", 2)
        if j > 2:
            return _clean_group(rest[2:j]), False
    end = _SENTENCE_END.search(rest)
    span = rest[: end.start()] if end else rest
    # the answer is the value, not the clause after it: "12 when x=42", "3 at x=4", "9 (the case y = 2 ...)"
    cut = next((c for c in _CLAUSE.finditer(span) if c.start() > 0), None)
    hedged = False
    if cut:
        hedged = bool(_HEDGE_TAIL.match(span, cut.start()))
        span = span[: cut.start()]
    return _clean_group(span), hedged


def _clean_group(ans: str) -> str:
    ans = ans.strip()
    inner = boxed_answers(ans)
    if inner:
        return inner[-1]
    ans = _strip_delims(ans)
    ans = re.sub(r"[\s*_]+$", "", ans)
    ans = re.sub(r"^[\s*_]+", "", ans)
    ans = ans.rstrip(".。").strip()
    return _strip_delims(ans)


def normalize_loose(s: str) -> str:
    return re.sub(r"[\s${}]|\\[,!;]", "", s)


def _prose_after_value(later: str, box: str) -> bool:
    """"\\boxed{\\frac{130}{231}}. The final answer is positive, because ...": a word after a
    boxed value describes it rather than replacing it (a later value, or a word for a word box, wins)."""
    word = re.compile(r"^[A-Za-z][A-Za-z' \-]*$")
    plain_box = re.sub(r"\\text\w*\{([^{}]*)\}", r"\1", box).strip()
    return bool(word.match(later.strip())) and not word.match(plain_box)


def _marker_answer(region: str, which: tuple[str, ...]) -> tuple[str, str, bool] | None:
    """The span after the last written answer marker of the kinds in ``which``."""
    found: list[tuple[int, int, str]] = []
    if "final_answer" in which:
        found += [(m.start(), m.end(), "final_answer") for m in _FINAL.finditer(region)]
    if "strong_final" in which:
        found += [(m.start(), m.end(), "final_answer") for m in _STRONG_FINAL.finditer(region)]
    if "answer_line" in which:
        found += [(m.start(), m.end(), "answer_line") for m in _LINE.finditer(region)]
    for _start, end, kind in sorted(found, reverse=True):
        span, tail_hedge = _take_span(region, end)
        # "Final Answer: The final answer is $7$." -> the later, inner marker already won;
        # "Final Answer: The volume is 120." -> the sentence's "is X".
        inner = re.search(r"\b(?:is|are|equals|=)\s+(.+)$", span) if " " in span else None
        if inner and re.search(r"[a-z]{3,}\s", span[: inner.start()]):
            span = _clean_group(inner.group(1))
        if span and span.lower() not in _NOT_ANSWERS:
            line = _line_and_retraction(region[end : end + 2000])
            negated = bool(_NEGATED_AFTER.match(line[len(line) - len(line.lstrip()) + len(span) :])) if line.lstrip().startswith(span) else False
            return span, kind, tail_hedge or bool(_HEDGE_IN_LINE.search(line)) or _retracts(line, span) or negated
    return None


def extract_answer(
    text: str,
    strategies: tuple[str, ...] | list[str] | None = None,
    think: str = "strip",
) -> Extraction:
    """Apply the extraction rules above to one completion."""
    region = answer_region(text, think)
    if region is None:
        return Extraction(None, reason="unfinished_thinking" if _THINK_OPEN.search(text) else "no_think_block")
    order = list(strategies or DEFAULT_STRATEGIES)
    for k, strategy in enumerate(order):
        if strategy == "boxed":
            found = _boxes(region)
            boxes = [b for b, _s, _e in found]
            if boxes:
                # "\boxed{255} ... Final Answer: The final answer is $10,455$": a strong marker
                # written after the last box is the later commitment
                later = _marker_answer(region[found[-1][2] :], ("answer_line", "strong_final"))
                strong = any(s in order for s in ("final_answer", "answer_line"))
                if (
                    strong
                    and later
                    and later[0].strip()
                    and normalize_loose(later[0]) != normalize_loose(boxes[-1])
                    and not _prose_after_value(later[0], boxes[-1])
                ):
                    return Extraction(later[0], later[1], [later[0]])
                distinct: list[str] = []
                for b in boxes:
                    if b not in distinct:
                        distinct.append(b)
                return Extraction(boxes[-1], "boxed", distinct, hedged=hedged_after(region, found[-1][2], boxes[-1])
                                  or negated_around(region, found[-1][1], found[-1][2]))
        elif strategy == "answer_tag":
            tag = _last_answer_tag(region)
            if tag is not None:
                ans = take_span(tag)
                close = list(_TAG_CLOSE.finditer(region))[-1].end()
                return Extraction(ans, "answer_tag", [ans], hedged=hedged_after(region, close, ans) or negated_around(region, close, close))
        elif strategy in ("final_answer", "answer_line"):
            # the written markers next to each other in the order compete by position
            group = (strategy,)
            nxt = order[k + 1] if k + 1 < len(order) else None
            if nxt in ("final_answer", "answer_line") and nxt != strategy:
                group = (strategy, nxt)
            got = _marker_answer(region, group)
            if got:
                return Extraction(got[0], got[1], [got[0]], hedged=got[2])
        elif strategy == "last_number":
            nums = _NUMBER.findall(region)
            if nums:
                return Extraction(nums[-1], "last_number", [nums[-1]])
        else:
            raise ValueError(f"unknown extraction strategy {strategy!r}")
    if region.strip() == "" and _THINK_CLOSE.search(text):
        return Extraction(None, reason="nothing_after_thinking")
    return Extraction(None, reason="no_answer_found")
