"""Find the final answer a model committed to in its completion.

Rules (also stated in README.md, "What counts as an answer"):

* ``<think>...</think>``: with ``think="strip"`` (default) only the text after
  the last ``</think>`` is graded; a completion that opens ``<think>`` and never
  closes it was cut off while thinking and has no answer. ``think="required"``
  also treats a completion without ``</think>`` as having no answer;
  ``think="ignore"`` grades the whole text.
* Strategies are tried in order and the first that finds something wins:
  ``boxed`` (the last ``\\boxed{}``/``\\fbox{}``, nested braces), ``answer_tag``
  (the last ``<answer>...</answer>``), ``final_answer`` ("the final answer is
  X"), ``answer_line`` (a line "Answer: X", DAPO style) and, only when asked
  for, ``last_number``.
* Every distinct boxed answer is returned in ``Extraction.candidates`` so that
  the grader can refuse completions that hedge between several answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DEFAULT_STRATEGIES: tuple[str, ...] = ("boxed", "answer_tag", "final_answer", "answer_line")

_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_BOX = re.compile(r"\\(?:boxed|fbox)(\s*)")
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
_FINAL = re.compile(
    r"final\s+answer\s*(?:is|:|=)?\s*[:=]?\s*(.+?)(?:\n\n|$)",
    re.IGNORECASE | re.DOTALL,
)
_ANSWER_LINE = re.compile(r"^\s*\**\s*answer\s*\**\s*[:：]\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


@dataclass
class Extraction:
    answer: str | None
    strategy: str | None = None
    candidates: list[str] = field(default_factory=list)
    reason: str | None = None  # why there is no answer


def answer_region(text: str, think: str = "strip") -> str | None:
    """The part of ``text`` to grade, or None when the model never left its thinking."""
    if think == "ignore":
        return text
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        return text[closes[-1].end():]
    if think == "required" or _THINK_OPEN.search(text):
        return None
    return text


def _read_braced(text: str, start: int) -> tuple[str, int] | None:
    """Content of the ``{...}`` group opening at ``text[start]`` and the index after it."""
    if start >= len(text) or text[start] != "{":
        return None
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c == "\\":
            continue
        if c == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif c == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    return None


def boxed_answers(text: str) -> list[str]:
    """Every ``\\boxed{...}`` / ``\\fbox{...}`` content, in order (``\\boxed 5`` too)."""
    out: list[str] = []
    for m in _BOX.finditer(text):
        j = m.end()
        got = _read_braced(text, j)
        if got is not None:
            out.append(got[0].strip())
        elif m.group(1):  # "\boxed 5" form: one token
            tail = re.match(r"[^\s$]+", text[j:])
            if tail:
                out.append(tail.group(0))
    return out


def _clean_inline(ans: str) -> str:
    ans = ans.strip()
    # "the final answer is $\boxed{5}$." and friends: strip math delimiters and end punctuation
    inner = boxed_answers(ans)
    if inner:
        return inner[-1]
    ans = re.sub(r"^\$+|\$+$", "", ans.strip()).strip()
    ans = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", ans).strip()
    ans = ans.rstrip(".。").strip()
    ans = re.sub(r"^\$+|\$+$", "", ans).strip()
    return ans


def extract_answer(
    text: str,
    strategies: tuple[str, ...] | list[str] | None = None,
    think: str = "strip",
) -> Extraction:
    """Apply the extraction rules above to one completion."""
    region = answer_region(text, think)
    if region is None:
        return Extraction(None, reason="unfinished_thinking" if _THINK_OPEN.search(text) else "no_think_block")
    for strategy in strategies or DEFAULT_STRATEGIES:
        if strategy == "boxed":
            boxes = boxed_answers(region)
            if boxes:
                distinct: list[str] = []
                for b in boxes:
                    if b not in distinct:
                        distinct.append(b)
                return Extraction(boxes[-1], "boxed", distinct)
        elif strategy == "answer_tag":
            tags = _ANSWER_TAG.findall(region)
            if tags:
                return Extraction(_clean_inline(tags[-1]), "answer_tag", [_clean_inline(tags[-1])])
        elif strategy == "final_answer":
            found = _FINAL.findall(region)
            if found:
                ans = _clean_inline(found[-1].split("\n")[0])
                if ans:
                    return Extraction(ans, "final_answer", [ans])
        elif strategy == "answer_line":
            found = _ANSWER_LINE.findall(region)
            if found:
                ans = _clean_inline(found[-1])
                if ans:
                    return Extraction(ans, "answer_line", [ans])
        elif strategy == "last_number":
            nums = _NUMBER.findall(region)
            if nums:
                return Extraction(nums[-1], "last_number", [nums[-1]])
        else:
            raise ValueError(f"unknown extraction strategy {strategy!r}")
    return Extraction(None, reason="no_answer_found")
