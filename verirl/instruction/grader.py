"""Instruction-following rewards: IFEval / IFBench constraints and Tulu 3 RLVR-IFeval ground truths.

A label is a list of constraints, each an id and its arguments. Forms read by
:func:`parse_constraints` (from an item's ``constraints``, else its ``answer``):

``{"instruction_id_list": [...], "kwargs": [{...}, ...]}``  IFEval / IFBench rows
``[{"instruction_id": [...], "kwargs": [...]}]``            open-instruct ground truth
                                                           (``IF_multi_constraints``, IFEvalG;
                                                           JSON or the Python-literal string
                                                           the datasets store)
``{"func_name": "validate_lowercase", "N": null, ...}``     Tulu 3 ``RLVR-IFeval`` (JSON string)

Constraint ids are rows of one table (:func:`rows`): the 25 IFEval checkers
and the 58 IFBench checkers of the ``if-verifiable`` package (a kept library:
google-research's and allenai's code, run offline, see :mod:`verirl.instruction.nltk_offline`),
and the 25 Tulu 3 functions of :mod:`verirl.instruction.tulu3`.

Grading (:func:`grade`): the text after the last ``</think>`` (the same rule
as math), stripped, is checked strict (as is) and loose (IFEval's rule: also
with the first line, the last line or both removed, each with and without
``*``). A constraint whose label is bad (unknown id, a missing argument that
the checker would otherwise fill *at random*, a wrong type) makes the item an
``error`` naming it, never a silent 0.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import random
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from verirl.errors import InvalidInput

#: Checkers we cannot run, with the reason (no guessing).
UNSUPPORTED: dict[str, str] = {
    "words:start_verb": "needs NLTK's averaged_perceptron_tagger_eng POS model, which no installed package ships",
}
MAX_LABEL_CHARS = 100_000


@dataclass(frozen=True)
class Constraint:
    id: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    source: str  # "ifeval" | "ifbench" | "rlvr-ifeval"
    checker: Any  # a checker class (library rows) or None (Tulu 3 rows)


# --------------------------------------------------------------------------- the table

def _library_registries() -> tuple[dict, dict]:
    from verirl.instruction import nltk_offline

    nltk_offline.ensure()
    import langdetect

    langdetect.DetectorFactory.seed = 0  # langdetect is random unless seeded
    bare = None
    if "if_verifiable" not in sys.modules:
        # The package's __init__ imports `datasets` (seconds, ~100 MB) for its dataset
        # loaders, which we never use: load the checker modules under a bare package,
        # then drop it so a later `import if_verifiable` runs the real __init__.
        spec = importlib.util.find_spec("if_verifiable")
        if spec is None:
            raise ImportError("if-verifiable is not installed (pip install 'verirl[server]')")
        bare = sys.modules["if_verifiable"] = importlib.util.module_from_spec(spec)
    try:
        from if_verifiable.ifbench.instructions_registry import INSTRUCTION_DICT as ifbench
        from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT as ifeval
    finally:
        if bare is not None and sys.modules.get("if_verifiable") is bare:
            del sys.modules["if_verifiable"]
    return dict(ifeval), dict(ifbench)


@lru_cache(maxsize=1)
def rows() -> dict[str, Row]:
    """Every constraint id we grade, with where its checker comes from."""
    from verirl.instruction.tulu3 import RULES

    ifeval, ifbench = _library_registries()
    table: dict[str, Row] = {}
    for name in RULES:
        table[name] = Row("rlvr-ifeval", None)
    for iid, cls in ifbench.items():
        table[iid] = Row("ifbench", cls)
    for iid, cls in ifeval.items():
        table[iid] = Row("ifeval", cls)
    return table


# --------------------------------------------------------------------------- labels

def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    s = value.strip()
    if len(s) > MAX_LABEL_CHARS:
        raise ValueError(f"label longer than {MAX_LABEL_CHARS} characters")
    try:
        return json.loads(s)
    except (ValueError, RecursionError):
        pass
    if s[:1] in "[{":
        try:  # the Python-literal strings open-instruct's datasets store; literals only, never code
            return ast.literal_eval(s)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            pass
    raise ValueError("not a JSON or Python-literal constraint label")


def _from_obj(obj: Any) -> list[Constraint]:
    if isinstance(obj, list):
        if obj and all(isinstance(x, str) for x in obj):  # a bare id list
            return [Constraint(x) for x in obj]
        out: list[Constraint] = []
        for x in obj:
            out.extend(_from_obj(_decode(x) if isinstance(x, str) else x))
        return out
    if not isinstance(obj, dict):
        raise ValueError("a constraint label is an object or a list of objects")
    if "func_name" in obj:
        kwargs = {k: v for k, v in obj.items() if k != "func_name" and v is not None}
        return [Constraint(str(obj["func_name"]), kwargs)]
    ids = obj.get("instruction_id_list", obj.get("instruction_id"))
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError("expected instruction_id_list (a list of ids), or func_name")
    kwargs = obj.get("kwargs")
    if kwargs is None:
        kwargs = [{}] * len(ids)
    if isinstance(kwargs, dict) and len(ids) == 1:
        kwargs = [kwargs]
    if not isinstance(kwargs, list) or len(kwargs) != len(ids):
        raise ValueError(f"kwargs must be a list with one object per instruction ({len(ids)})")
    out = []
    for iid, kw in zip(ids, kwargs, strict=True):
        if kw is not None and not isinstance(kw, dict):
            raise ValueError(f"kwargs of {iid} must be an object")
        out.append(Constraint(iid, {k: v for k, v in (kw or {}).items() if v is not None}))
    return out


def parse_constraints(constraints: Any = None, answer: Any = None) -> list[Constraint]:
    """The constraints of an item; InvalidInput naming ``constraints`` or ``answer``."""
    name, value = ("constraints", constraints) if constraints is not None else ("answer", answer)
    if value is None:
        raise InvalidInput("instruction items need `constraints` (or an open-instruct ground truth in `answer`)", field="constraints")
    try:
        out = _from_obj(_decode(value))
    except ValueError as exc:
        raise InvalidInput(str(exc), field=name) from None
    if not out:
        raise InvalidInput("no constraints", field=name)
    return out


def _is_label_obj(obj: Any) -> bool:
    if isinstance(obj, str) and obj.strip()[:1] == "{":
        try:
            obj = _decode(obj)
        except ValueError:
            return False
    if isinstance(obj, dict):
        return "func_name" in obj or "instruction_id_list" in obj or "instruction_id" in obj
    return isinstance(obj, list) and bool(obj) and all(_is_label_obj(x) for x in obj)


def looks_like_label(value: Any) -> bool:
    """True when a trainer label is an instruction-following ground truth (used to pick the task)."""
    if isinstance(value, str):
        s = value.strip()
        if not (s[:1] in "[{" and ("func_name" in s or "instruction_id" in s)):
            return False
        try:
            value = _decode(s)
        except ValueError:
            return False
    if not _is_label_obj(value):
        return False
    try:
        parse_constraints(value)
    except InvalidInput:
        return False
    return True


# --------------------------------------------------------------------------- checking

def _build(row: Row, c: Constraint, prompt: str | None) -> Any:
    """A ready checker (library) or bound function (Tulu 3); ValueError names a bad label."""
    if row.checker is None:
        from verirl.instruction.tulu3 import bind

        kwargs = dict(c.kwargs)
        if "original_prompt" not in kwargs and prompt and c.id == "validate_repeat_prompt":
            kwargs["original_prompt"] = prompt
        return bind(c.id, kwargs)
    inst = row.checker(c.id)
    try:
        inst.build_description(**c.kwargs)
    except TypeError as exc:
        raise ValueError(f"{c.id}: {exc}") from None
    rand = _random_args(row.checker, c.id, json.dumps(c.kwargs, sort_keys=True, default=str))
    if rand == ["letter"] and isinstance(c.kwargs.get("letter"), str) and len(c.kwargs["letter"].strip()) == 1:
        # IFEval swaps a letter outside a-z ("#", "!") for a random one: count the label's own character
        inst._letter = c.kwargs["letter"].strip().lower()
    elif rand:
        missing = [k for k in rand if c.kwargs.get(k) is None]
        if missing:
            raise ValueError(f"{c.id} needs kwargs {missing}")
        raise ValueError(f"{c.id}: the checker would replace {rand} at random (values it does not accept)")
    return inst.check_following


@lru_cache(maxsize=4096)
def _random_args(checker: Any, cid: str, kwargs_json: str) -> list[str]:
    """The arguments the reference library would fill or replace at random for these kwargs."""
    kwargs = json.loads(kwargs_json)
    state = random.getstate()
    seen: list[dict] = []
    try:
        for seed in (1, 2, 3, 4):
            random.seed(seed)
            probe = checker(cid)
            probe.build_description(**kwargs)
            seen.append(probe.get_instruction_args() or {})
    finally:
        random.setstate(state)
    keys = sorted(set().union(*seen))
    return [k for k in keys if any(repr(x.get(k)) != repr(seen[0].get(k)) for x in seen)]


def loose_variants(text: str) -> list[str]:
    """IFEval's loose rule: the response with its first/last/both lines removed, each with and without ``*``."""
    lines = text.split("\n")
    cut = [text, "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return cut + [t.replace("*", "") for t in cut]


_PLAIN_RESPONSES = ("Hello world. This is a plain answer.", "hello", "The answer is 42.\n\nThank you!")


def _follows(fn: Any, text: str, entry: dict[str, Any]) -> bool:
    """``fn(text)``; a checker that crashes on this response is not followed by it (noted in ``entry``).

    The checker was built from the label's arguments without complaint, so a crash here comes from what
    the response contains (``"["*3000``, a text of only punctuation): the model's doing, never a null reward.
    """
    try:
        return bool(fn(text))
    except Exception as exc:
        entry.setdefault("crash", f"{type(exc).__name__}: {str(exc)[:200]}")
        return False


def _checker_works(row: Row, c: Constraint, prompt: str | None) -> bool:
    """Whether a fresh checker for ``c`` answers at least one plain response without crashing."""
    for plain in _PLAIN_RESPONSES:
        try:
            _build(row, c, prompt)(plain)
            return True
        except Exception:
            continue
    return False


def check(text: str, constraints: list[Constraint], prompt: str | None = None) -> list[dict[str, Any]]:
    """Strict and loose result of each constraint on ``text`` (already cut to the answer)."""
    table = rows()
    variants = loose_variants(text)
    out: list[dict[str, Any]] = []
    for c in constraints:
        entry: dict[str, Any] = {"id": c.id}
        row = table.get(c.id)
        if c.id in UNSUPPORTED:
            out.append({**entry, "error": f"{c.id} is not supported: {UNSUPPORTED[c.id]}"})
            continue
        if row is None:
            out.append({**entry, "error": f"unknown constraint id {c.id!r}"})
            continue
        entry["source"] = row.source
        try:
            fn = _build(row, c, prompt)
        except ValueError as exc:
            out.append({**entry, "error": f"bad arguments: {exc}"})
            continue
        entry["strict"] = bool(text.strip()) and _follows(fn, text, entry)
        entry["loose"] = entry["strict"] or any(v.strip() and _follows(fn, v, entry) for v in variants[1:])
        if "crash" in entry and not _checker_works(row, c, prompt):
            # it fails on a plain response as well: the label (or the checker) is broken, not the answer
            out.append({"id": c.id, "source": row.source, "error": f"checker failed: {entry['crash']}"})
            continue
        out.append(entry)
    return out


RESPONSE_CPU_S = 2.0  # CPU for all of one response's checks (IFBench's slowest take ~45 µs a character)


def grade(item: dict, opts: dict) -> tuple[str, str | None, dict[str, Any], float]:
    """The grader-table row for ``task: "instruction"``: (verdict, extracted, details, accuracy)."""
    from verirl.extract import answer_region

    try:
        constraints = parse_constraints(item.get("constraints"), item.get("answer"))
    except InvalidInput as exc:
        return "error", None, {"error": exc.message, "field": exc.field}, 0.0
    level = opts.get("if_check") or "strict"
    region = answer_region(item["completion"], opts.get("think") or "strip")
    if region is None:
        return "no_answer", None, {"reason": "unfinished_thinking", "constraints": [c.id for c in constraints]}, 0.0
    text = region.strip()
    from verirl.math.cost import AnswerTooCostly, answer_budget

    try:
        with answer_budget(RESPONSE_CPU_S):
            results = check(text, constraints, item.get("prompt"))
    except AnswerTooCostly:  # a checker that crawls over a 200k-character response: the response's cost
        msg = f"checking the response took more than {RESPONSE_CPU_S:g} s of CPU"
        return "incorrect", None, {"reason": "response_too_costly", "message": msg, "constraints": [c.id for c in constraints]}, 0.0
    details: dict[str, Any] = {"constraints": results, "level": level}
    errors = [r for r in results if "error" in r]
    if errors:
        details["error"] = "; ".join(r["error"] for r in errors)
        return "error", None, details, 0.0
    passed = sum(1 for r in results if r[level])
    details.update(
        passed=passed,
        total=len(results),
        strict_all=all(r["strict"] for r in results),
        loose_all=all(r["loose"] for r in results),
    )
    if not text:
        details["reason"] = "empty_response"
        return "no_answer", None, details, 0.0
    if passed == len(results):
        return "correct", None, details, 1.0
    frac = passed / len(results) if opts.get("if_reward") == "fraction" else 0.0
    return "incorrect", None, details, frac
