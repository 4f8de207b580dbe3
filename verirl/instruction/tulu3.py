"""Tulu 3's RLVR-IFeval constraints: the ``{"func_name": ..., args}`` ground truths.

``allenai/RLVR-IFeval`` (Tulu 3) stores each prompt's constraint as a JSON
string naming one of 25 check functions and its arguments (open-instruct,
``open_instruct/if_functions.py``, graded by ``IFEvalVerifierOld`` in
``ground_truth_utils.py``: ``None`` arguments are dropped, the response is the
text after the thinking section). Their semantics differ from IFEval's
checkers of the same name (exact counts, whitespace word counts, a regex
sentence splitter), so they are their own rows, written here from that
specification: one ``Rule`` per ``func_name`` with its argument names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _compare(actual: int, n: int, quantifier: str, around: int) -> bool:
    if quantifier == "at least":
        return actual >= n
    if quantifier == "at most":
        return actual <= n
    if quantifier == "around":
        return abs(actual - n) <= around
    return False


def _keywords(text: str, keyword_list: list) -> bool:
    low = text.lower()
    return all(str(k).lower() in low for k in keyword_list)


def _keyword_frequency(text: str, word: str, N: int) -> bool:
    return re.findall(r"\b\w+\b", text.lower()).count(str(word).lower()) == N


def _forbidden(text: str, forbidden_words: list) -> bool:
    low = text.lower()
    return not any(str(w).lower() in low for w in forbidden_words)


def _letter_frequency(text: str, letter: str, N: int) -> bool:
    if len(letter) != 1:
        raise ValueError("letter must be one character")
    return text.count(letter) == N


def _language(text: str, language: str) -> bool:
    import langdetect

    return bool(langdetect.detect(text) == language)


def _paragraph_count(text: str, N: int) -> bool:
    cleaned = "\n".join(line.strip() for line in text.splitlines()).strip()
    parts = cleaned.split("* * *")
    return all(p.strip() for p in parts) and len(parts) == N


def _word_constraint(text: str, N: int, quantifier: str) -> bool:
    return _compare(len(text.strip().split()), N, quantifier, max(round(N * 0.1), 1))


_SENTENCE_END = re.compile(r"(?<!\w\.\w.)(?<![A-Z][a-z]\.)(?<=\.|\?|!)\s")


def _sentence_constraint(text: str, N: int, quantifier: str) -> bool:
    return _compare(len(_SENTENCE_END.split(text)), N, quantifier, 1)


def _paragraphs(text: str, N: int, first_word: str, i: int) -> bool:
    paras = text.split("\n\n")
    return len(paras) == N and 1 <= i <= N and paras[i - 1].strip().startswith(first_word)


def _postscript(text: str, postscript_marker: str) -> bool:
    at = text.find(postscript_marker)
    return at != -1 and len(text[at:].strip()) > len(postscript_marker)


def _placeholders(text: str, N: int) -> bool:
    return len(re.findall(r"\[(.*?)\]", text)) >= N


def _bullet_points(text: str, N: int) -> bool:
    return sum(1 for line in text.split("\n") if line.strip().startswith(("*", "-"))) == N


def _title(text: str) -> bool:
    return re.search(r"<<(.*?)>>", text) is not None


def _choice(text: str, options: list) -> bool:
    return any(str(o) in text for o in options)


def _highlighted(text: str, N: int) -> bool:
    return len(re.findall(r"\*(.*?)\*", text)) >= N


def _sections(text: str, N: int, section_splitter: str) -> bool:
    pattern = r"\s?" + re.escape(section_splitter) + r"\s?\d+\s?"
    return len(re.split(pattern, text, flags=re.IGNORECASE)) - 1 >= N


def _json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _repeat_prompt(text: str, original_prompt: str) -> bool:
    return text.startswith(original_prompt)


def _two_responses(text: str) -> bool:
    if text.count("******") != 1:
        return False
    first, second = (p.strip() for p in text.split("******"))
    return first != second


def _capital_words(text: str, N: int, quantifier: str) -> bool:
    return _compare(len(re.findall(r"\b[A-Z]+\b", text)), N, quantifier, max(round(N * 0.1), 1))


@dataclass(frozen=True)
class Rule:
    check: Callable[..., bool]
    args: tuple[str, ...]


#: func_name -> the check and the arguments it needs (all required).
RULES: dict[str, Rule] = {
    "verify_keywords": Rule(_keywords, ("keyword_list",)),
    "verify_keyword_frequency": Rule(_keyword_frequency, ("word", "N")),
    "validate_forbidden_words": Rule(_forbidden, ("forbidden_words",)),
    "verify_letter_frequency": Rule(_letter_frequency, ("letter", "N")),
    "validate_response_language": Rule(_language, ("language",)),
    "verify_paragraph_count": Rule(_paragraph_count, ("N",)),
    "validate_word_constraint": Rule(_word_constraint, ("N", "quantifier")),
    "verify_sentence_constraint": Rule(_sentence_constraint, ("N", "quantifier")),
    "validate_paragraphs": Rule(_paragraphs, ("N", "first_word", "i")),
    "verify_postscript": Rule(_postscript, ("postscript_marker",)),
    "validate_placeholders": Rule(_placeholders, ("N",)),
    "verify_bullet_points": Rule(_bullet_points, ("N",)),
    "validate_title": Rule(_title, ()),
    "validate_choice": Rule(_choice, ("options",)),
    "validate_highlighted_sections": Rule(_highlighted, ("N",)),
    "validate_sections": Rule(_sections, ("N", "section_splitter")),
    "validate_json_format": Rule(_json, ()),
    "validate_repeat_prompt": Rule(_repeat_prompt, ("original_prompt",)),
    "validate_two_responses": Rule(_two_responses, ()),
    "validate_uppercase": Rule(lambda text: text == text.upper(), ()),
    "validate_lowercase": Rule(lambda text: text == text.lower(), ()),
    "validate_frequency_capital_words": Rule(_capital_words, ("N", "quantifier")),
    "validate_end": Rule(lambda text, end_phrase: text.endswith(end_phrase), ("end_phrase",)),
    "validate_quotation": Rule(lambda text: text.startswith('"') and text.endswith('"'), ()),
    "validate_no_commas": Rule(lambda text: "," not in text, ()),
}

_INT_ARGS = {"N", "i"}


def bind(func_name: str, kwargs: dict[str, Any]) -> Callable[[str], bool]:
    """The check for one ground truth, its arguments bound; ValueError names what is wrong."""
    rule = RULES[func_name]
    args: dict[str, Any] = {}
    for name in rule.args:
        v = kwargs.get(name)
        if v is None:
            raise ValueError(f"{func_name} needs argument {name!r}")
        if name in _INT_ARGS:
            if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v):
                raise ValueError(f"{func_name}: {name} must be an integer, got {v!r}")
            v = int(v)
        args[name] = v
    return lambda text: bool(rule.check(text, **args))
