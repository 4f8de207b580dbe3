"""Trainer-side ground truth ("label") to a verirl item.

Trainers hand a reward function a response and a label: a plain answer
(``"42"``, ``"\\frac{1}{2}"``), a number, or for code a JSON object (often
serialised as a string). :func:`item_from_label` turns that pair into a
:class:`verirl.schemas.ScoreItem`-shaped dict. Label objects understood:

``{"answer": "..."}``                        math (also ``ground_truth``/``solution``)
``{"tests": {...}, "language": "python"}``   verirl code tests (see ``verirl.code``)
``{"inputs": [...], "outputs": [...]}``      APPS/TACO/PRIME stdio tests; with
                                             ``fn_name``: call tests (args = inputs[i])
``{"problem_id": "..."}``                    a registered problem
IFEval/IFBench constraints, open-instruct     instruction following (see ``verirl.instruction``)
ground truths (``func_name``/``instruction_id``)

Any of them may also carry ``"options"`` (per-item ScoreOptions) and
``"task"``. No server dependency: the integrations import this too.
"""

from __future__ import annotations

import json
from typing import Any

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


def response_of(query: str, prompt: str | None) -> str:
    """OpenRLHF sends prompt + response as one text; cut the prompt off when it is a prefix."""
    if prompt and query.startswith(prompt):
        return query[len(prompt):]
    if prompt:
        # Left padding tokens may precede the decoded prompt inside the query.
        at = query.find(prompt)
        if at != -1:
            return query[at + len(prompt):]
    return query


def _decode(label: Any) -> Any:
    if isinstance(label, str):
        s = label.strip()
        if s.startswith("{") and s.endswith("}"):
            try:
                return json.loads(s)
            except ValueError:
                return label
    return label


def _code_tests(obj: dict) -> dict | None:
    if isinstance(obj.get("tests"), dict):
        return obj["tests"]
    tests = obj.get("tests")
    if isinstance(tests, str):  # nested JSON string, as some datasets store it
        try:
            t = json.loads(tests)
            if isinstance(t, dict):
                return _code_tests({"tests": t}) if "format" in t else _code_tests(t)
        except ValueError:
            return None
    ins, outs = obj.get("inputs"), obj.get("outputs")
    if isinstance(ins, list) and isinstance(outs, list) and len(ins) == len(outs) and ins:
        if obj.get("fn_name"):
            return {
                "format": "call",
                "fn_name": obj["fn_name"],
                "cases": [{"args": a if isinstance(a, list) else [a], "expected": e} for a, e in zip(ins, outs, strict=True)],
            }
        return {"format": "stdio", "cases": [{"input": str(a), "output": str(e)} for a, e in zip(ins, outs, strict=True)]}
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
    from verirl.instruction import looks_like_label

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
    if isinstance(lab, dict):
        if isinstance(lab.get("options"), dict):
            item["options"] = lab["options"]
        if lab.get("problem_id") is not None:
            item["problem_id"] = str(lab["problem_id"])
        tests = _code_tests(lab)
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
