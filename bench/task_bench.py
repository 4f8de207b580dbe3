"""Items/s per core for each task row: math, instruction following, QA; one process, one run.

Instruction following is measured next to the baseline a user would otherwise
call: if-verifiable's ``evaluate_output_for_sample`` (the IFEval/IFBench
reference checkers, strict and loose) on the same responses (the reference gets
the text after ``</think>``, the text verirl grades). verirl grades the same
constraints with the same checker classes and adds think handling, label checks
and reward shaping. Rounds alternate the reference and verirl, so each ratio is
taken under the same machine load, as wall time and as this process's CPU time.
Math is verirl's grader on math_cot_100 (when ../shared/data is present), for scale.
"""

from __future__ import annotations

import logging
import time

from _common import machine, math_rows, table

logging.getLogger("math_verify").setLevel(logging.ERROR)


def _rates(fn, items: list, min_s: float = 2.0) -> tuple[float, float]:
    """(items per wall second, items per CPU second of this process), over at least ``min_s``."""
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        for it in items:
            fn(it)
        n += len(items)
        dt = time.perf_counter() - t0
        if dt >= min_s:
            return n / dt, n / max(1e-9, time.process_time() - c0)


def _rate(fn, items: list, min_s: float = 2.0) -> float:
    return _rates(fn, items, min_s)[0]


def if_workload() -> tuple[list[dict], list[tuple]]:
    """The golden table's responses (each constraint's good and bad response) as verirl items
    and as the reference's (benchmark, sample, response) arguments."""
    from if_verifiable import IFBenchSample, IFEvalSample, evaluate_output_for_sample

    from tests.verirl.golden_instruction import CASES, IFEVAL_CASES
    from verirl.scoring import score_item

    if_items, samples = [], []
    for c in CASES:
        for resp in (c.good, c.bad):
            cons = {"instruction_id_list": [c.id], "kwargs": [c.kwargs]}
            if_items.append({"task": "instruction", "completion": f"<think>plan</think>{resp}", "constraints": cons})
            cls, bench = (IFEvalSample, "ifeval") if c in IFEVAL_CASES else (IFBenchSample, "ifbench")
            samples.append((bench, cls(key=0, prompt="", instruction_id_list=cons["instruction_id_list"], kwargs=cons["kwargs"]), resp))
    # Warm both with one full pass, untimed: imports, NLTK data, langdetect's language profiles
    # (loaded on first use: about a second, which a timed first round would charge to one side).
    for it in if_items:
        score_item(it)
    for smp in samples:
        evaluate_output_for_sample(*smp)
    return if_items, samples


def instruction_vs_reference(rounds: int = 3, min_s: float = 2.0) -> list[tuple[float, float, float, float]]:
    """Alternating rounds on the same responses: per round (reference items/s wall, verirl
    items/s wall, reference items per CPU second, verirl items per CPU second)."""
    from if_verifiable import evaluate_output_for_sample

    from verirl.scoring import score_item

    if_items, samples = if_workload()
    out = []
    for _ in range(rounds):
        bw, bc = _rates(lambda s: evaluate_output_for_sample(*s), samples, min_s)
        ow, oc = _rates(score_item, if_items, min_s)
        out.append((bw, ow, bc, oc))
    return out


def main() -> None:
    from verirl.scoring import score_item

    if_items, _ = if_workload()
    rows: list[list] = []
    for k, (bw, ow, bc, oc) in enumerate(instruction_vs_reference(3)):
        rows.append([f"instruction (IFEval+IFBench, 1 constraint), round {k + 1}", "if-verifiable evaluate_output_for_sample",
                     f"{bw:,.0f} / {bc:,.0f}", f"{ow:,.0f} / {oc:,.0f}", f"{ow / bw:.2f}x / {oc / bc:.2f}x"])

    multi = [{"task": "instruction", "completion": grp[0]["completion"], "constraints": {
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
    except BaseException as exc:  # the shared data set is absent in a fresh clone (SystemExit)
        rows.append(["math (math_cot_100)", "-", "-", f"skipped: {exc}", "-"])
    else:
        math = [{"task": "math", "completion": c, "answer": r["gt"]} for r in mrows for c in r["code"]]
        for it in math[:400]:  # warm (sympy's first use of each construct)
            score_item(it)
        rows.append(["math (math_cot_100)", "-", "-", f"{_rate(score_item, math[:400], 4.0):,.0f}", "-"])

    print(f"machine: {machine()}")
    print(f"instruction responses: {len(if_items)} (golden table); one process, one core; rates as wall / CPU "
          "(items per second of wall time / of this process's CPU time); rounds alternate reference and verirl\n")
    print(table(["task", "baseline", "baseline items/s (wall / CPU)", "verirl items/s (wall / CPU)", "ratio (wall / CPU)"], rows))


if __name__ == "__main__":
    main()
