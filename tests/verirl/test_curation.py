"""Dedup and decontamination quality, measured on real benchmark text (numbers printed)."""

from __future__ import annotations

import json
import random
import re

import pytest

from verirl.curation import primitives as C


def _read(path, key):
    return [json.loads(line)[key] for line in path.read_text().splitlines() if line.strip()]


def _change_number(text: str, rng: random.Random) -> str | None:
    nums = list(re.finditer(r"\d+", text))
    if not nums:
        return None
    m = rng.choice(nums)
    return text[: m.start()] + str(int(m.group()) + rng.randint(1, 9)) + text[m.end() :]


def _relatex(text: str) -> str:
    """Same problem, other typesetting and spacing."""
    return re.sub(" ", "  ", text.replace("\\frac", "\\dfrac").replace("$", "$ ", 2), count=3) + "\n"


def test_normalize_and_exact_hash() -> None:
    a = "Find  $\\dfrac{1}{2}\\left(x\\right)$ ."
    b = "find $\\frac{1}{2}(x)$ ."
    assert C.exact_hash(a) == C.exact_hash(b)
    assert C.exact_hash("x = 1") != C.exact_hash("x = 2")


def test_near_duplicates_recall_and_precision(benchmarks_dir, math_cot_rows, capsys) -> None:
    """Planted near duplicates (one number changed; re-typeset/re-spaced) in a GSM8K/MATH-style set."""
    base = _read(benchmarks_dir / "gsm8k.jsonl", "question") + [r["question"] for r in math_cot_rows]
    rng = random.Random(7)
    planted: list[tuple[int, str]] = []
    for j, i in enumerate(rng.sample(range(len(base)), 600)):
        t = _change_number(base[i], rng) if j % 2 == 0 else _relatex(base[i])
        if t and t != base[i]:
            planted.append((i, t))
    texts = base + [t for _, t in planted]
    digests = C.minhashes(texts)
    index, first, found = C.LSHIndex(), {}, {}
    for k, (t, d) in enumerate(zip(texts, digests, strict=True)):
        h = C.exact_hash(t)
        if h in first:
            found[k] = first[h]
        else:
            hits = index.query(d, C.DEFAULT_THRESHOLD)
            if hits:
                found[k] = hits[0][0]
            first[h] = k
        index.add(k, d)
    n = len(base)
    true_pos = sum(1 for j, (i, _) in enumerate(planted) if found.get(n + j) == i)
    flagged = len(found)
    recall = true_pos / len(planted)
    precision = true_pos / flagged
    with capsys.disabled():
        print(f"\nnear-dup @ {C.DEFAULT_THRESHOLD}: recall {recall:.3f} ({true_pos}/{len(planted)}), "
              f"precision {precision:.3f} ({true_pos}/{flagged} flags; {flagged - true_pos} other flags)")
    assert recall >= 0.95
    assert precision >= 0.95


@pytest.fixture(scope="module")
def aime(benchmarks_dir) -> list[dict]:
    return [{"id": str(json.loads(line)["id"]), "text": json.loads(line)["problem"]} for line in (benchmarks_dir / "aime24.jsonl").read_text().splitlines()]


def test_aime_copies_flagged_in_a_5000_problem_set(benchmarks_dir, aime, capsys) -> None:
    bench = C.build_benchmarks({"aime24": aime})
    gsm = _read(benchmarks_dir / "gsm8k.jsonl", "question")
    oly = _read(benchmarks_dir / "olympiadbench.jsonl", "question")
    rng = random.Random(3)
    filler = (gsm + oly) * 3
    problems = [{"text": t, "plant": None} for t in filler[: 5000 - 3 * len(aime)]]
    for a in aime:
        problems.append({"text": a["text"], "plant": a["id"]})  # verbatim
        problems.append({"text": _change_number(a["text"], rng) or a["text"], "plant": a["id"]})  # one number changed
        twice = _change_number(_change_number(a["text"], rng) or a["text"], rng) or a["text"]
        problems.append({"text": twice, "plant": a["id"]})  # two numbers changed
    rng.shuffle(problems)
    assert len(problems) == 5000
    missed, false = [], []
    for p in problems:
        flags = C.check_all(bench, p["text"])
        if p["plant"] is not None and p["plant"] not in {f["item"] for f in flags}:
            missed.append(p["text"][:80])
        if p["plant"] is None and flags:
            false.append(p["text"][:80])
    with capsys.disabled():
        print(f"\nAIME 2024 copies: {3 * len(aime) - len(missed)}/{3 * len(aime)} flagged; {len(false)} of {5000 - 3 * len(aime)} other problems flagged")
    assert missed == []
    assert len(false) / 5000 < 0.01


def test_gsm8k_is_not_flagged_against_aime(benchmarks_dir, aime, capsys) -> None:
    bench = C.build_benchmarks({"aime24": aime})
    gsm = _read(benchmarks_dir / "gsm8k.jsonl", "question")
    flagged = [t for t in gsm if C.check_all(bench, t)]
    with capsys.disabled():
        print(f"\nGSM8K test vs AIME 2024: {len(flagged)}/{len(gsm)} flagged ({100 * len(flagged) / len(gsm):.2f}%)")
    assert len(flagged) / len(gsm) < 0.01


def test_template_phrases_alone_do_not_flag(benchmarks_dir, aime) -> None:
    """Open-R1's one-8-gram rule flags AMC 2023 problems that share AIME's stock phrasing."""
    amc = _read(benchmarks_dir / "amc23.jsonl", "problem")
    bench = C.build_benchmarks({"aime24": aime})
    assert [t[:60] for t in amc if C.check_all(bench, t)] == []
    # ... while a problem that copies a real AIME sentence is flagged
    sentence = aime[0]["text"].split(". ")[0]
    flags = C.check_all(bench, "Here is a warm-up. " + sentence + ". What is 2 + 2?")
    assert flags and flags[0]["rule"] == "ngram8" and flags[0]["item"] == aime[0]["id"]


def test_difficulty_table() -> None:
    d = C.difficulty(10, 3)
    assert d["pass_rate"] == 0.3 and d["smoothed_pass_rate"] == pytest.approx(4 / 12)
    assert d["bucket"] == "medium"
    lo, hi = C.wilson(3, 10)
    assert lo == pytest.approx(0.1078, abs=1e-4) and hi == pytest.approx(0.6032, abs=1e-4)
    assert [C.bucket(a, c) for a, c in [(3, 0), (8, 0), (8, 1), (8, 4), (8, 7), (8, 8)]] == [
        "unknown", "unsolved", "hard", "medium", "easy", "solved",
    ]
    assert C.rollout_outcomes([True, 0, 1.0, "correct", "timeout", "no_answer"]) == [True, False, True, True, False]
