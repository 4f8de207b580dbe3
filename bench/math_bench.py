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

    from verirl.math.grader import grade

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

    from verirl.math import grader as math_grader

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
    print("\nother projects' equivalence cases (tests/verirl/data/outside_math.jsonl), same rows, same run")
    from tests.verirl import test_math_outside as om

    res = om._run()
    by_repo: dict[str, list] = {}
    for r, o, m in res:
        by_repo.setdefault(r["repo"], []).append((r, o, m))
    orows = []
    for repo, items in sorted(by_repo.items()):
        n_r = len(items)
        clear = [(r, o, m) for r, o, m in items if om._key(r) not in om.UNCLEAR]

        def want(r):
            return bool(r["expected"]) != (om._key(r) in om.POLICY)

        fp = sum(o and not r["expected"] and om._key(r) not in om.UNCLEAR | om.POLICY for r, o, _m in items)
        orows.append([repo, n_r, f"{sum(o == bool(r['expected']) for r, o, _m in items)}/{n_r}",
                      f"{sum(m == bool(r['expected']) for r, _o, m in items)}/{n_r}",
                      f"{sum(o == want(r) for r, o, _m in clear)}/{len(clear)}",
                      f"{sum(m == want(r) for r, _o, m in clear)}/{len(clear)}", fp])
    print(table(["suite", "rows", "verirl = suite label", "math-verify = suite label", "verirl right (policy)",
                 "math-verify right (policy)", "verirl false pos. (clear)"], orows))

    import json
    from pathlib import Path

    adv = [json.loads(x) for x in (Path(__file__).parent.parent / "tests/verirl/data/adversarial_math.jsonl").read_text().splitlines()]
    a_got = [grade(r["completion"], r["gold"]).verdict for r in adv]
    a_ok = sum(v == r["expected"] for v, r in zip(a_got, adv, strict=True))
    a_fp = sum(v == "correct" and r["expected"] != "correct" for v, r in zip(a_got, adv, strict=True))
    m_res = [bool(verify(parse("\\boxed{" + r["gold"] + "}"), parse(r["completion"]))) if r["gold"].strip() else False for r in adv]
    m_ok = sum(m == (r["expected"] == "correct") for m, r in zip(m_res, adv, strict=True))
    m_fp = sum(m and r["expected"] != "correct" for m, r in zip(m_res, adv, strict=True))
    print(f"\nfresh policy cases (tests/verirl/data/adversarial_math.jsonl, {len(adv)}): verirl right {a_ok}, "
          f"false pos. {a_fp}; math-verify (gold boxed) right {m_ok}, false pos. {m_fp}")
    print("\ndisagreements of verirl with the labels:")
    for (g, c, s), o in zip(pairs, ours, strict=True):
        if o != s:
            print(f"  gold={g!r} label={s} verirl={o} tail={c[-80:]!r}")


if __name__ == "__main__":
    main()
