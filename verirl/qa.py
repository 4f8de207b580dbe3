"""Short-answer QA: the model's final answer against one or several gold strings.

The answer is found by the math extraction rules (:func:`verirl.extract.extract_answer`:
``</think>`` handling, ``\\boxed{}``, ``<answer>``, "the final answer is", "Answer:");
when none of them finds one, the whole answer region is the answer, as in
SQuAD/TriviaQA evaluation of short generations. Both sides are normalised the
SQuAD way (:func:`normalize`: lower case, punctuation deleted so "U.S.A."
reads "usa", the articles a/an/the dropped, whitespace collapsed), then

``qa_match: "exact"`` (default)  correct when the normalised strings are equal for some gold;
``qa_match: "f1"``               correct when the best token F1 over the golds reaches
                                 ``f1_threshold`` (default 0.8).

``details`` carries the best gold, its exact match and F1.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from typing import Any

DEFAULT_F1_THRESHOLD = 0.8
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | {"‘", "’", "´", "`", "“", "”", "«", "»", "–", "—"}


_LONE_MARKS = re.compile(r"(^|\s)[\u0300-\u036f\u1ab0-\u1aff\u20d0-\u20ff]+")


def normalize(text: str) -> str:
    """SQuAD/TriviaQA normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text if ch not in _PUNCT)  # before NFKC: it spells "´" as a space and a combining accent
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _LONE_MARKS.sub(r"\1", text)  # a combining mark with no letter to sit on (a spacing accent's remains)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def f1(prediction: str, gold: str) -> float:
    """Token F1 of two texts after :func:`normalize` (SQuAD's definition)."""
    p, g = normalize(prediction).split(), normalize(gold).split()
    if not p or not g:
        return float(p == g)
    same = sum((Counter(p) & Counter(g)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def golds_of(answer: Any) -> list[str]:
    """The acceptable golds: a string, or a list of strings (empty ones dropped)."""
    if isinstance(answer, str):
        return [answer] if answer.strip() else []
    if isinstance(answer, list):
        return [str(a) for a in answer if isinstance(a, str | int | float) and str(a).strip()]
    return []


_WORD_RETRACT = re.compile(
    r"\b(?:actually|wait|oops|sorry|correction|hmm+)\b[\s,:;!.\-]*(?:no\b|not\b|wrong\b|it'?s\b|it\s+is\b|i\s+meant?\b|make\s+that\b)"
    r"|\b(?:scratch\s+that|on\s+second\s+thought)\b",
    re.IGNORECASE,
)
_NEGATED = re.compile(r"^(?:not|no|never|neither|nor)\b")


def _hedge(ex: Any, completion: str, golds: list[str]) -> str | None:
    """Why the answer commits to more than one thing (or to its negation), or None."""
    if ex.hedged:
        return "hedged_answer"
    if ex.strategy == "boxed":
        from verirl.extract import answer_region, boxed_answers

        region = answer_region(completion) or ""
        last = max(region.rfind("\\boxed"), region.rfind("\\fbox"))
        paragraph = region[region.rfind("\n\n", 0, max(last, 0)) + 1 :]  # a box before a blank line is a self-correction
        if len({normalize(b) for b in boxed_answers(paragraph) if normalize(b)}) > 1:
            return "several_boxed_answers"
    if ex.answer is not None:
        at = completion.rfind(ex.answer)
        if at >= 0 and _WORD_RETRACT.search(completion[at + len(ex.answer) : at + len(ex.answer) + 300].split("\n", 1)[0]):
            return "hedged_answer"
        if _NEGATED.match(normalize(ex.answer)) and not any(_NEGATED.match(normalize(g)) for g in golds):
            return "negated_answer"
    return None


def grade(item: dict, opts: dict) -> tuple[str, str | None, dict[str, Any], float]:
    """The grader-table row for ``task: "qa"``: (verdict, extracted, details, accuracy)."""
    from verirl.extract import answer_region, extract_answer

    golds = golds_of(item.get("answer"))
    if not golds:
        return "error", None, {"error": "qa items need `answer`: a string or a list of strings", "field": "answer"}, 0.0
    think = opts.get("think") or "strip"
    ex = extract_answer(item["completion"], opts.get("extract"), think=think)
    if ex.answer is not None:
        pred, how = ex.answer, ex.strategy
    else:
        if ex.reason != "no_answer_found":
            return "no_answer", None, {"reason": ex.reason}, 0.0
        pred, how = (answer_region(item["completion"], think) or "").strip(), "whole_response"
    if not normalize(pred):
        return "no_answer", None, {"reason": "empty_answer"}, 0.0
    mode = opts.get("qa_match") or "exact"
    threshold = opts.get("f1_threshold")
    threshold = DEFAULT_F1_THRESHOLD if threshold is None else float(threshold)
    norm_pred = normalize(pred)
    scored = [(normalize(g) == norm_pred, f1(pred, g), g) for g in golds]
    em, best_f1, best = max(scored, key=lambda s: (s[0], s[1]))
    details: dict[str, Any] = {
        "strategy": how,
        "match": mode,
        "gold": best,
        "exact": em,
        "f1": round(best_f1, 6),
    }
    hedge = _hedge(ex, item["completion"], golds)
    if hedge:  # "Paris (or London)", "\\boxed{London} \\boxed{Paris}", "Paris. Actually no, London.", "not Obama"
        details["reason"] = hedge
        return "incorrect", pred, details, 0.0
    if mode == "f1":
        details["f1_threshold"] = threshold
        ok = best_f1 >= threshold
    else:
        ok = em
    return ("correct" if ok else "incorrect"), pred, details, 1.0 if ok else 0.0
