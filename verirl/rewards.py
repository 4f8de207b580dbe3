"""Reward shaping, declared as data.

A reward spec is a dict (``options.reward`` per request, or the server default
``{"accuracy": {"weight": 1}}``). Each key names an additive term; the total
is the sum of the terms and every result carries the breakdown.

``accuracy``   ``{"weight": 1.0, "wrong": 0.0}``: ``weight x acc + wrong x (1 - acc)``
               where ``acc`` is the verifier's accuracy (1/0 for math; for code
               1/0 or the fraction of tests passed, see ``code_reward``).
               ``"wrong": -1`` gives DAPO's +1/-1 rule reward.
``format``     ``{"weight": 1.0, "pattern": "think_answer"}``: weight if the
               completion has the shape, else 0. Patterns: ``think`` (a closed
               ``<think>`` block then text), ``think_answer`` (``<think>..</think>``
               then ``<answer>..</answer>``), ``answer_tag``, ``boxed``, or a
               regular expression of your own (``{"regex": "..."}``).
``length``     ``{"type": "cosine", "max_len": L, ...}`` cosine length scaling
               (Yeo et al. 2025): ``r = r_min + (r_max - r_min)/2 * (1 + cos(pi L / L_max))``
               with ``(min_value_correct, max_value_correct)`` for right answers,
               ``(min_value_wrong, max_value_wrong)`` for wrong ones (longer wrong
               answers are punished less: exploration), and ``exceed_penalty``
               past ``max_len``. With cosine the accuracy weight defaults to 0:
               the cosine value already encodes correctness.
               ``{"type": "dapo", "max_len": L, "cache_len": C}`` DAPO's soft
               overlong punishment: 0 up to ``L - C``, then linear to -1 at ``L``,
               -1 beyond.
``repetition`` ``{"ngram": 3, "max_penalty": -1.0}``: ``max_penalty x (1 - unique/total)``
               over word n-grams of the completion.
``length_unit`` ``"auto"`` (tokens when the item has ``num_tokens``, else
               whitespace words), ``"tokens"``, ``"words"`` or ``"chars"``.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

from verirl.errors import InvalidInput

DEFAULT_SPEC: dict[str, Any] = {"accuracy": {"weight": 1.0}}

#: Named specs: ``options.reward`` may be one of these names instead of an object.
PRESETS: dict[str, dict[str, Any]] = {
    # 1 for a right answer, 0 otherwise (DeepSeek-R1's accuracy reward).
    "accuracy": DEFAULT_SPEC,
    # accuracy + 0.5 for the <think>...</think> then answer shape (R1 / Open-R1 format reward).
    "r1": {"accuracy": {"weight": 1.0}, "format": {"weight": 0.5, "pattern": "think"}},
    # DAPO: +1/-1 rule reward and the soft overlong punishment (20480 max, 4096 cache), in tokens.
    "dapo": {
        "accuracy": {"weight": 1.0, "wrong": -1.0},
        "length": {"type": "dapo", "max_len": 20480, "cache_len": 4096},
        "length_unit": "tokens",
    },
    # Cosine length scaling with Open-R1's defaults (accuracy folded into the cosine value).
    "cosine": {"length": {"type": "cosine", "max_len": 1000}},
}

_KNOWN = {"accuracy", "format", "length", "repetition", "length_unit"}
_FORMATS = {
    "think": re.compile(r"^\s*<think>.*?</think>\s*\S", re.DOTALL),
    "think_answer": re.compile(r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", re.DOTALL),
    "answer_tag": re.compile(r"<answer>.*?</answer>", re.DOTALL),
    "boxed": re.compile(r"\\boxed\s*\{"),
}


def validate_spec(spec: dict[str, Any] | str | None) -> dict[str, Any]:
    """Check a reward spec (an object or a preset name); return it as an object.

    Raises InvalidInput naming the bad key.
    """
    if spec is None:
        return DEFAULT_SPEC
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise InvalidInput(f"unknown reward preset {spec!r}; one of {sorted(PRESETS)}", field="options.reward")
        return PRESETS[spec]
    if not isinstance(spec, dict):
        raise InvalidInput("reward spec must be an object or a preset name", field="options.reward")
    acc = spec.get("accuracy")
    if acc is not None:
        if not isinstance(acc, dict):
            raise InvalidInput("accuracy must be an object", field="options.reward.accuracy")
        for k in ("weight", "wrong"):
            if k in acc and (not isinstance(acc[k], int | float) or isinstance(acc[k], bool) or not math.isfinite(acc[k])):
                raise InvalidInput(f"accuracy.{k} must be a number", field=f"options.reward.accuracy.{k}")
    for key in spec:
        if key not in _KNOWN:
            raise InvalidInput(f"unknown reward term {key!r}", field=f"options.reward.{key}")
    fmt = spec.get("format")
    if fmt is not None:
        if not isinstance(fmt, dict):
            raise InvalidInput("format must be an object", field="options.reward.format")
        if "regex" in fmt:
            try:
                re.compile(fmt["regex"])
            except (re.error, TypeError) as exc:
                raise InvalidInput(f"bad regex: {exc}", field="options.reward.format.regex") from None
        elif fmt.get("pattern", "think_answer") not in _FORMATS:
            raise InvalidInput(
                f"format.pattern must be one of {sorted(_FORMATS)}", field="options.reward.format.pattern"
            )
    ln = spec.get("length")
    if ln is not None:
        if not isinstance(ln, dict) or ln.get("type") not in ("cosine", "dapo"):
            raise InvalidInput("length.type must be 'cosine' or 'dapo'", field="options.reward.length.type")
        if not isinstance(ln.get("max_len"), int | float) or ln["max_len"] <= 0:
            raise InvalidInput("length.max_len must be a positive number", field="options.reward.length.max_len")
        if ln["type"] == "dapo":
            c = ln.get("cache_len")
            if not isinstance(c, int | float) or not 0 < c <= ln["max_len"]:
                raise InvalidInput(
                    "length.cache_len must be in (0, max_len]", field="options.reward.length.cache_len"
                )
    if spec.get("length_unit", "auto") not in ("auto", "tokens", "words", "chars"):
        raise InvalidInput("length_unit must be auto|tokens|words|chars", field="options.reward.length_unit")
    return spec


def parse_spec(text: str) -> dict[str, Any]:
    """A reward spec written as text (an env var, a query string): a preset name or a JSON object."""
    return _parse_spec_cached(text.strip())


@lru_cache(maxsize=64)
def _parse_spec_cached(text: str) -> dict[str, Any]:
    import json

    if text.startswith("{"):
        try:
            spec = json.loads(text)
        except ValueError:
            raise InvalidInput("reward is not valid JSON", field="options.reward") from None
        return validate_spec(spec)
    return validate_spec(text)


def cosine_scaled(length: float, max_len: float, correct: bool, p: dict[str, Any]) -> float:
    """Cosine length scaling of Yeo et al. (2025), as open-r1's ``get_cosine_scaled_reward``."""
    if length > max_len:
        return float(p.get("exceed_penalty", p.get("min_value_wrong", -1.0)))
    if correct:
        lo, hi = float(p.get("min_value_correct", 0.5)), float(p.get("max_value_correct", 1.0))
    else:  # swapped: a short wrong answer is punished most
        lo, hi = float(p.get("max_value_wrong", -0.5)), float(p.get("min_value_wrong", -1.0))
    return lo + 0.5 * (hi - lo) * (1.0 + math.cos(math.pi * length / max_len))


def dapo_overlong(length: float, max_len: float, cache_len: float) -> float:
    """DAPO soft overlong punishment: 0, then linear to -1 over the last ``cache_len``, -1 beyond."""
    expected = max_len - cache_len
    if length <= expected:
        return 0.0
    if length <= max_len:
        return (expected - length) / cache_len
    return -1.0


def repetition_penalty(text: str, ngram: int, max_penalty: float) -> float:
    words = text.lower().split()
    if len(words) < ngram or ngram < 1:
        return 0.0
    grams = [tuple(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]
    return max_penalty * (1.0 - len(set(grams)) / len(grams))


_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# a word: one CJK/kana/hangul character (no spaces between them), or a run of anything else up to
# whitespace or a zero-width character ("a\u200bb" is two words: joining with U+200B dodges no penalty)
_WORD = re.compile(rf"[{_CJK}]|[^\s{_CJK}\u200b\u200c\u200d\u2060\ufeff]+")


def count_words(text: str) -> int:
    """Words for length shaping when no token count is given (see ``_WORD``)."""
    return sum(1 for _ in _WORD.finditer(text))


def measure_length(item: dict, unit: str) -> tuple[float, str]:
    text = item.get("completion") or ""
    if unit == "auto":
        unit = "tokens" if item.get("num_tokens") is not None else "words"
    if unit == "tokens":
        if item.get("num_tokens") is None:
            return float(count_words(text)), "words"
        return float(item["num_tokens"]), "tokens"
    if unit == "chars":
        return float(len(text)), "chars"
    return float(count_words(text)), "words"


_REGEX_BUDGET_S = 0.5


def format_ok(text: str, fmt: dict[str, Any]) -> bool:
    """Whether ``text`` has the format; linear in the text for the named patterns.

    A caller's own regex runs under a time budget (the ``regex`` module's ``timeout``): a completion
    that drives it into catastrophic backtracking does not follow the format.
    """
    if "regex" in fmt:
        import regex

        try:
            return regex.search(fmt["regex"], text, regex.DOTALL, timeout=_REGEX_BUDGET_S) is not None
        except TimeoutError:
            return False
    pattern = fmt.get("pattern", "think_answer")
    if pattern == "answer_tag":  # "<answer>" * 20000 would make the lazy regex quadratic
        from verirl.extract import _last_answer_tag

        return _last_answer_tag(text) is not None
    return _FORMATS[pattern].search(text) is not None


def shape_reward(
    item: dict, verdict: str, accuracy: float, spec: dict[str, Any] | None
) -> tuple[float, dict[str, Any]]:
    """Total reward and its breakdown for a decided item (never for timeout/error)."""
    spec = validate_spec(spec) if isinstance(spec, str) else (spec or DEFAULT_SPEC)
    text = item.get("completion") or ""
    correct = verdict == "correct"
    length_spec = spec.get("length")
    acc_default = 0.0 if length_spec and length_spec.get("type") == "cosine" else 1.0
    acc_spec = spec.get("accuracy") or {}
    acc_w = float(acc_spec.get("weight", acc_default)) if "accuracy" in spec else acc_default
    wrong = float(acc_spec.get("wrong", 0.0))
    terms: dict[str, float] = {"accuracy": acc_w * accuracy + wrong * (1.0 - accuracy)}
    breakdown: dict[str, Any] = {}
    if "format" in spec:
        fmt = spec["format"] or {}
        terms["format"] = float(fmt.get("weight", 1.0)) * (1.0 if format_ok(text, fmt) else 0.0)
    if length_spec:
        length, unit = measure_length(item, spec.get("length_unit", "auto"))
        breakdown["length_value"] = length
        breakdown["length_unit"] = unit
        w = float(length_spec.get("weight", 1.0))
        if length_spec["type"] == "cosine":
            terms["length"] = w * cosine_scaled(length, float(length_spec["max_len"]), correct, length_spec)
        else:
            terms["length"] = w * dapo_overlong(
                length, float(length_spec["max_len"]), float(length_spec["cache_len"])
            )
    if "repetition" in spec:
        rp = spec["repetition"] or {}
        terms["repetition"] = float(rp.get("weight", 1.0)) * repetition_penalty(
            text, int(rp.get("ngram", 3)), float(rp.get("max_penalty", -1.0))
        )
    total = sum(terms.values())
    breakdown.update({k: round(v, 10) for k, v in terms.items()})
    return round(total, 10), breakdown
