"""Trainer-side ground truth ("label") to a verirl item.

Trainers hand a reward function a response and a label: a plain answer
(``"42"``, ``"\\frac{1}{2}"``), a number, or for code a JSON object (often
serialised as a string). :func:`item_from_label` turns that pair into a
:class:`verirl.schemas.ScoreItem`-shaped dict. Label objects understood:

``{"answer": "..."}``                        math (also ``ground_truth``/``solution``)
``{"tests": {...}, "language": "python"}``   verirl code tests (see ``verirl.code.grader``)
public code datasets' test columns           APPS/TACO, verl prime_code, LiveCodeBench,
                                             DeepCoder/PrimeIntellect, CodeContests, KodCode,
                                             MBPP, HumanEval: see ``verirl.code.labels``
``{"problem_id": "..."}``                    a registered problem
IFEval/IFBench constraints, open-instruct     instruction following (see ``verirl.instruction.grader``)
ground truths (``func_name``/``instruction_id``)

Any of them may also carry ``"options"`` (per-item ScoreOptions) and
``"task"``. No server dependency: the integrations import this too.

A label we cannot use (missing, empty, whitespace-only, unparseable) is not a
wrong answer and not a request error: :func:`label_error` names the problem
and its fix, and the trainer endpoints and integrations answer that item with
verdict ``error`` and ``details.error = {"code": "invalid_label", ...}``
(reward: their documented neutral value), never a silent 0 and never a 4xx.

Prompts: :func:`response_of` cuts the prompt off OpenRLHF's query even when the
prompt was left-truncated; :func:`prompt_opens_think` tells when the chat
template opened ``<think>`` (R1-distill templates end the prompt with it), so
the response is thinking until its own ``</think>``.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from verirl.code.labels import LabelShapeError, dataset_tests, looks_like_test_list

log = logging.getLogger("verirl.labels")

#: End-of-sequence and padding tokens that decoded trainer text may still carry.
SPECIAL_TOKENS = (
    "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>", "</s>", "<pad>",
    "<｜end▁of▁sentence｜>", "<|end|>", "<|return|>",
)


def strip_special(text: str) -> str:
    """Drop trailing EOS/pad tokens (``skip_special_tokens=False`` decodes keep them)."""
    prev = None
    while prev != text:
        prev = text
        text = text.rstrip()
        for tok in SPECIAL_TOKENS:
            if text.endswith(tok):
                text = text[: -len(tok)]
    return text


#: The shortest prompt suffix trusted as "the end of the prompt" inside a query.
_MIN_SUFFIX = 12


def response_of(query: str, prompt: str | None) -> str:
    """The response inside OpenRLHF's query (prompt + response, decoded as one text).

    The prompt is cut off when it is a prefix, or found after left padding.
    When it is not in the query at all (OpenRLHF left-truncates prompts longer
    than its budget), the longest suffix of the prompt found in the query marks
    where the response starts; that is at least the prompt's last line (the
    assistant header of a chat template), so few-shot examples at the start of
    a prompt are never graded. A query with no trace of the prompt is graded whole.
    """
    if not prompt:
        return query
    if query.startswith(prompt):
        return query[len(prompt):]
    at = query.find(prompt)
    if at != -1:  # left padding tokens may precede the decoded prompt
        return query[at + len(prompt):]
    lo, hi = 0, len(prompt)  # the longest k with prompt[-k:] in query; "in" is monotone in k
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if prompt[-mid:] in query:
            lo = mid
        else:
            hi = mid - 1
    last_line = prompt.rstrip().rsplit("\n", 1)[-1]
    if lo >= min(_MIN_SUFFIX, len(prompt)) or (last_line and lo >= len(prompt) - prompt.rfind(last_line)):
        return query[query.find(prompt[-lo:]) + lo:]
    return query


_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)


def prompt_opens_think(prompt: Any) -> bool:
    """True when the prompt text ends inside an open ``<think>`` block (the chat
    template opened it, as DeepSeek-R1-distill and QwQ templates do)."""
    if not isinstance(prompt, str) or "<think>" not in prompt.lower():
        return False
    opens = [m.start() for m in _THINK_OPEN.finditer(prompt)]
    closes = [m.start() for m in _THINK_CLOSE.finditer(prompt)]
    return bool(opens) and (not closes or opens[-1] > closes[-1])


#: Trainer think modes (the ``think`` query parameter of the trainer endpoints,
#: ``VERIRL_TRAINER_THINK``, ``think=`` of the verl/TRL functions):
#: ``auto``  the prompt tells: a template that opened ``<think>`` makes the
#:           response thinking until its ``</think>``; grade what follows it.
#: ``open``  always so (for trainers that do not pass the prompt, e.g. verl's
#:           reward loop, with an R1-distill template).
#: ``strip`` / ``required`` / ``ignore``: ScoreOptions.think, with ``auto``'s
#:           prompt rule on top (except ``ignore``: grade the whole text).
THINK_MODES = ("auto", "open", "strip", "required", "ignore")


def apply_think(item: dict, mode: str | None, prompt: Any) -> dict:
    """Set the item's think handling from the trainer think mode and the prompt."""
    mode = mode or "auto"
    if mode in ("strip", "required", "ignore"):
        opts = item.setdefault("options", {})
        opts.setdefault("think", mode)
    if mode == "ignore":
        return item
    if mode == "open" or prompt_opens_think(prompt):
        text = item.get("completion", "")
        if not _THINK_OPEN.match(text.lstrip()):
            # The template's <think> is part of the response: thinking until </think>.
            item["completion"] = "<think>" + text
    return item


def _plain(label: Any) -> Any:
    """numpy scalars and arrays (verl's non_tensor_batch, pandas-read datasets) as Python values."""
    if not isinstance(label, str | bytes | dict | list) and callable(getattr(label, "tolist", None)):
        try:
            return label.tolist()
        except Exception:
            return label
    return label


def _decode(label: Any) -> Any:
    label = _plain(label)
    if isinstance(label, str):
        s = label.strip()
        if s.startswith("{") and s.endswith("}"):
            try:
                return json.loads(s)
            except ValueError:
                return label
        if s.startswith("[{") and s.endswith("]"):  # a test list (DeepCoder/LiveCodeBench ground truth as JSON)
            try:
                tests = json.loads(s)
            except ValueError:
                return label
            return tests if looks_like_test_list(tests) else label
    return label


def _code_tests(obj: Any) -> dict | None:
    """verirl tests for a code label (verirl's own ``tests``, or a public dataset's shape: see
    :mod:`verirl.code.labels`); None when it is no code label. Raises LabelShapeError."""
    if isinstance(obj, dict) and "tests" in obj:
        tests = obj["tests"]
        if isinstance(tests, str):  # nested JSON string, as some datasets store it (DeepCoder's test lists)
            try:
                tests = json.loads(tests)
            except (ValueError, RecursionError):
                raise LabelShapeError("tests is a string that is not JSON", "label.tests") from None
        if isinstance(tests, dict) and "format" in tests:
            return tests
        if isinstance(tests, dict | list):
            found = dataset_tests(tests, "label.tests")
            if found is None:
                raise LabelShapeError(f"tests holds no tests verirl knows (fields seen: {', '.join(sorted(map(str, tests))) if isinstance(tests, dict) else 'a list'})", "label.tests")
            return found
        raise LabelShapeError(f"tests is a {type(tests).__name__}, not tests", "label.tests")
    return dataset_tests(obj)


def _code_tests_or_none(obj: Any) -> dict | None:
    try:
        return _code_tests(obj)
    except LabelShapeError:
        return None


#: verl ``data_source`` names (and dataset ids) whose labels are instruction constraints or QA golds.
TASK_OF_SOURCE = {
    "ifeval": "instruction", "google/ifeval": "instruction", "allenai/rlvr-ifeval": "instruction",
    "allenai/if_multi_constraints_upto5": "instruction", "ifbench": "instruction", "allenai/ifbench_test": "instruction",
    "nq": "qa", "triviaqa": "qa", "popqa": "qa", "hotpotqa": "qa", "2wikimultihopqa": "qa", "musique": "qa",
    "bamboogle": "qa", "squad": "qa",
}


def task_of_source(data_source: Any) -> str | None:
    """The task a data source name implies (``ifeval`` -> instruction, ``triviaqa`` -> qa), else None."""
    if not isinstance(data_source, str):
        return None
    name = data_source.strip().lower()
    return TASK_OF_SOURCE.get(name) or TASK_OF_SOURCE.get(name.rsplit("/", 1)[-1])


def _is_if_label(lab: Any) -> bool:
    from verirl.instruction.grader import looks_like_label

    return looks_like_label(lab)


def _text_task_item(item: dict[str, Any], lab: Any, task: str) -> dict[str, Any]:
    """Instruction constraints go to ``constraints``; QA golds (a string, a list, or Search-R1's
    ``{"target": [...]}``) go to ``answer``."""
    item["task"] = task
    if isinstance(lab, dict) and isinstance(lab.get("options"), dict):
        item["options"] = lab["options"]
        lab = {k: v for k, v in lab.items() if k != "options"}
    if task == "instruction":
        if lab is not None:
            item["constraints"] = lab
        return item
    if isinstance(lab, dict):
        lab = next((lab[k] for k in ("target", "answer", "answers", "ground_truth") if lab.get(k) is not None), None)
    if isinstance(lab, list):
        item["answer"] = [str(x) for x in lab if isinstance(x, int | float | str)]
    elif isinstance(lab, int | float | str):
        item["answer"] = str(lab)
    return item


def item_from_label(
    response: str,
    label: Any,
    *,
    id: str | None = None,
    prompt: str | None = None,
    task: str | None = None,
) -> dict[str, Any]:
    """One item for ``/v1/score``. A label we cannot read still yields an item:
    the server then answers it with an ``error`` verdict naming the field."""
    item: dict[str, Any] = {"completion": strip_special(response)}
    if id is not None:
        item["id"] = id
    if prompt is not None:
        item["prompt"] = prompt
    lab = _decode(label)
    if task in ("instruction", "qa") or (task is None and _is_if_label(lab)):
        return _text_task_item(item, lab, task or "instruction")
    if looks_like_test_list(lab):
        item["task"] = "code"
        tests = _code_tests_or_none(lab)
        if tests is not None:
            item["tests"] = tests
        return item
    if isinstance(lab, dict):
        if isinstance(lab.get("options"), dict):
            item["options"] = lab["options"]
        if lab.get("problem_id") is not None:
            item["problem_id"] = str(lab["problem_id"])
        tests = _code_tests_or_none(lab)
        if tests is not None or lab.get("task") == "code" or task == "code":
            item["task"] = "code"
            if tests is not None:
                item["tests"] = tests
            if lab.get("language"):
                item["language"] = str(lab["language"])
            return item
        for key in ("answer", "ground_truth", "solution", "label"):
            if lab.get(key) is not None:
                item["answer"] = str(lab[key])
                break
        item["task"] = task or "math"
        return item
    item["task"] = task or "math"
    if isinstance(lab, int | float | str):  # bool is an int
        item["answer"] = str(lab)
    elif isinstance(lab, list) and lab and all(isinstance(x, int | float | str) for x in lab):
        item["answer"] = str(lab[0]) if len(lab) == 1 else ", ".join(str(x) for x in lab)
    return item


# --------------------------------------------------------------------------- label problems

#: Where the fix for a missing or empty label lies, per trainer.
LABEL_HINTS = {
    "openrlhf": "OpenRLHF sends an empty label when it runs without --label_key: start it with "
    "--label_key <the dataset column holding the answers>",
    "slime": "slime sends the dataset's label column: set --label-key <the column holding the answers>",
    "verl": "verl passes reward_model.ground_truth of each dataset row: fill it in the data preprocessing",
    "trl": "TRL passes the dataset columns: give each row an answer (or pass answer_column=)",
    "api": "send the ground truth in the label",
}

_warned = False
_JSON_OBJECT = re.compile(r'^\{\s*"[^"]*"\s*:')  # '{"answer": ...' (a set like "{1, 2}" is an answer)


def label_error(label: Any, *, field: str = "label", hint: str = "api", task: str | None = None) -> dict[str, str] | None:
    """Why ``label`` cannot be graded against, as ``{"code": "invalid_label", "field", "message"}``, or None.
    Instruction constraints are checked by the instruction grader itself (its own error verdicts)."""
    why = _label_problem(_plain(label), task)
    if why is None:
        return None
    return {"code": "invalid_label", "field": field, "message": f"{why}: {LABEL_HINTS.get(hint, hint)}"}


def _label_problem(label: Any, task: str | None = None) -> str | None:
    if label is None:
        return "the label (ground truth) is missing"
    if isinstance(label, str) and not label.strip():
        return "the label is empty" if not label else "the label is whitespace only"
    if task == "instruction" or (task is None and _is_if_label(_decode(label))):
        return None
    code = _decode(label)
    if looks_like_test_list(code) or isinstance(code, dict):
        try:
            if _code_tests(code) is not None:
                return None
        except LabelShapeError as exc:
            return f"{exc.field}: {exc.message}"
    if task == "qa" and isinstance(label, dict):
        for key in ("target", "answer", "answers", "ground_truth"):
            if label.get(key) is not None:
                return _label_problem(label[key], "qa")
        return "the label object has none of target, answer, answers, ground_truth"
    if isinstance(label, bool):
        return "the label is a boolean, not an answer"
    if isinstance(label, float) and label != label:
        return "the label is NaN"
    if isinstance(label, int | float):
        return None
    if isinstance(label, str):
        s = label.strip()
        if not s:
            return "the label is empty" if not label else "the label is whitespace only"
        if _JSON_OBJECT.match(s) and not isinstance(_decode(s), dict):
            return "the label looks like a JSON object but does not parse"
        if isinstance(_decode(s), dict):
            return _label_problem(_decode(s), task)
        return None
    if isinstance(label, list):
        if not label:
            return "the label is an empty list"
        if not all(isinstance(x, int | float | str) and not isinstance(x, bool) for x in label):
            return "the label is a list of non-scalars"
        if all(isinstance(x, str) and not x.strip() for x in label):
            return "the label is a list of empty strings"
        return None
    if isinstance(label, dict):
        if label.get("problem_id") is not None or label.get("task") == "code":
            return None
        for key in ("answer", "ground_truth", "solution", "label"):
            if key in label and label[key] is not None:
                return _label_problem(label[key], task)
        return (f"the label object (fields seen: {', '.join(sorted(map(str, label)))[:300]}) has none of answer, ground_truth, "
                "solution, label, a code test shape (see README: Trainers), problem_id")
    return f"the label is a {type(label).__name__}, not an answer"


def warn_invalid_label(err: dict[str, str]) -> None:
    """Log the first label problem of this process (a trainer misconfiguration repeats on every item)."""
    global _warned
    if not _warned:
        _warned = True
        log.warning("label error (logged once per process; each such item gets verdict `error`): %s", err["message"])


def invalid_label_result(err: dict[str, str], *, id: str | None = None, reward: float | None = None) -> dict[str, Any]:
    """The result of an item whose label is unusable."""
    return {"id": id, "reward": reward, "verdict": "error", "extracted": None, "details": {"error": dict(err)}}
