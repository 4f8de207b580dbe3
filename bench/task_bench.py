"""Items/s per core for each task row: math, instruction following, QA; one process, one run.

Instruction following is measured next to the baseline a user would otherwise
call: if-verifiable's ``evaluate_output_for_sample`` (the IFEval/IFBench
reference checkers, strict and loose) on the same responses. verirl grades the
same constraints with the same checker classes and adds think handling, label
checks and reward shaping, so the ratio shows what that costs. Math is
verirl's grader on math_cot_100 (when ../shared/data is present), for scale.
"""

from __future__ import annotations

import logging
import time

from _common import machine, math_rows, table

logging.getLogger("math_verify").setLevel(logging.ERROR)


def _rate(fn, items: list, min_s: float = 2.0) -> float:
    n, t0 = 0, time.perf_counter()
    while True:
        for it in items:
            fn(it)
        n += len(items)
        dt = time.perf_counter() - t0
        if dt >= min_s:
            return n / dt


def main() -> None:
    from tests.verirl.golden_instruction import CASES, IFEVAL_CASES
    from verirl.scoring import score_item

    if_items = []
    for c in CASES:
        for resp in (c.good, c.bad):
            if_items.append({"task": "instruction", "completion": f"<think>plan</think>{resp}",
                             "constraints": {"instruction_id_list": [c.id], "kwargs": [c.kwargs]}, "ifeval": c in IFEVAL_CASES})
    score_item(if_items[0])  # warm: imports and NLTK data

    from if_verifiable import IFBenchSample, IFEvalSample, evaluate_output_for_sample

    samples = []
    for it in if_items:
        cls, bench = (IFEvalSample, "ifeval") if it["ifeval"] else (IFBenchSample, "ifbench")
        cons = it["constraints"]
        samples.append((bench, cls(key=0, prompt="", instruction_id_list=cons["instruction_id_list"], kwargs=cons["kwargs"]), it["completion"]))

    rows = []
    base = _rate(lambda s: evaluate_output_for_sample(*s), samples)
    ours = _rate(score_item, if_items)
    rows.append(["instruction (IFEval+IFBench, 1 constraint)", "if-verifiable evaluate_output_for_sample", f"{base:,.0f}", f"{ours:,.0f}", f"{ours / base:.2f}x"])

    multi = [{"task": "instruction", "completion": it["completion"], "constraints": {
        "instruction_id_list": [a["constraints"]["instruction_id_list"][0] for a in grp],
        "kwargs": [a["constraints"]["kwargs"][0] for a in grp]}} for grp in (if_items[i:i + 3] for i in range(0, len(if_items) - 2, 3))]
    rows.append(["instruction (3 constraints)", "-", "-", f"{_rate(score_item, multi):,.0f}", "-"])

    tulu = [{"task": "instruction", "completion": "<think>x</think>all lower case, with a comma",
             "answer": '{"func_name": "validate_lowercase", "N": null}'},
            {"task": "instruction", "completion": "one two three", "answer": '{"func_name": "validate_word_constraint", "N": 3, "quantifier": "at most"}'}]
    rows.append(["instruction (Tulu 3 RLVR-IFeval)", "-", "-", f"{_rate(score_item, tulu):,.0f}", "-"])

    from tests.verirl.test_qa import CASES as QA

    qa = [{"task": "qa", "completion": c, "answer": g, "options": o} for c, g, o, _ in QA]
    rows.append(["qa (exact and f1)", "-", "-", f"{_rate(score_item, qa):,.0f}", "-"])

    try:
        mrows = math_rows()
    except Exception as exc:  # the shared data set is absent in a fresh clone
        rows.append(["math (math_cot_100)", "-", "-", f"skipped: {exc}", "-"])
    else:
        math = [{"task": "math", "completion": c, "answer": r["gt"]} for r in mrows for c in r["code"]]
        score_item(math[0])
        rows.append(["math (math_cot_100)", "-", "-", f"{_rate(score_item, math[:400], 4.0):,.0f}", "-"])

    print(f"machine: {machine()}")
    print(f"instruction responses: {len(if_items)} (golden table); one process, one core\n")
    print(table(["task", "baseline", "baseline items/s", "verirl items/s", "ratio"], rows))


if __name__ == "__main__":
    main()
