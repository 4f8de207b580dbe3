"""Math verification: plain math-verify vs verirl's grader, same inputs, one run.

Plain math-verify is what most reward functions do: ``verify(parse(gold), parse(completion))``.
Prints verifications per CPU-second (process time, so that other load on a shared machine does not
skew the ratio) for each, the ratio, and agreement with the
benchmark authors' labels in math_cot_100.
"""

from __future__ import annotations

import logging
import time

from _common import machine, math_rows, table

logging.getLogger("math_verify").setLevel(logging.ERROR)


def main() -> None:
    from math_verify import parse, verify

    from verirl.math_grader import grade

    rows = math_rows()
    pairs = [(r["gt"], c, s) for r in rows for c, s in zip(r["code"], r["score"], strict=True)]
    # warm both (imports, antlr)
    verify(parse("\\boxed{1}"), parse("\\boxed{1}"))
    grade("\\boxed{1}", "1")

    t0 = time.process_time()
    mv = [bool(verify(parse(g), parse(c))) for g, c, _ in pairs]
    t_mv = time.process_time() - t0

    t0 = time.process_time()
    mv_boxed = [bool(verify(parse("\\boxed{" + g + "}"), parse(c))) for g, c, _ in pairs]
    t_mvb = time.process_time() - t0

    from verirl import math_grader

    math_grader._mv_parse.cache_clear()
    t0 = time.process_time()
    ours = [grade(c, g).verdict == "correct" for g, c, _ in pairs]
    t_ours = time.process_time() - t0

    labels = [s for _, _, s in pairs]
    n = len(pairs)

    def agree(v):
        return sum(a == b for a, b in zip(v, labels, strict=True))

    rows_out = [
        ["math-verify, raw gold", f"{n / t_mv:,.0f}", f"{agree(mv)}/{n}"],
        ["math-verify, gold boxed", f"{n / t_mvb:,.0f}", f"{agree(mv_boxed)}/{n}"],
        ["verirl", f"{n / t_ours:,.0f}", f"{agree(ours)}/{n}"],
    ]
    print(f"machine: {machine()}")
    print(f"items: {n} (math_cot_100), one process, one core\n")
    print(table(["verifier", "verifications/s", "agrees with labels"], rows_out))
    print(f"\nspeed-up over plain math-verify: {t_mv / t_ours:.1f}x (gold boxed: {t_mvb / t_ours:.1f}x)")
    print("\ngolden table (tests/verirl/golden_math.py): right verdicts and false positives")
    from tests.verirl.golden_math import GOLDEN, HELD_OUT

    grows = []
    for name, tbl in (("golden (tuned on)", GOLDEN), ("held-out (written last)", HELD_OUT)):
        ours_ok = ours_fp = mv_ok = mv_fp = 0
        for _cat, g, c, exp, _note in tbl:
            want = exp == "correct"
            got = grade(c, g).verdict == exp
            ours_ok += got
            ours_fp += (not want) and grade(c, g).verdict == "correct"
            m = bool(verify(parse("\\boxed{" + g + "}"), parse(c)))
            mv_ok += m == want
            mv_fp += m and not want
        n_t = len(tbl)
        grows.append([name, n_t, f"{ours_ok / n_t:.1%}", f"{ours_fp / n_t:.1%}", f"{mv_ok / n_t:.1%}", f"{mv_fp / n_t:.1%}"])
    print(table(["slice", "cases", "verirl right", "verirl false pos.", "math-verify right", "math-verify false pos."], grows))
    print("\ndisagreements of verirl with the labels:")
    for (g, c, s), o in zip(pairs, ours, strict=True):
        if o != s:
            print(f"  gold={g!r} label={s} verirl={o} tail={c[-80:]!r}")


if __name__ == "__main__":
    main()
