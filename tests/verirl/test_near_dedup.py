"""Dedup that knows the task (verirl.curation.near_dedup): prompt wrappers, numbers, conflicting answers.

Measured on real benchmark text (numbers printed); the CLI options (--against, several
decontaminated columns) in the last tests.
"""

from __future__ import annotations

import json
import random
import subprocess

from tests.curation_data import TEMPLATES
from tests.procs import BIN, clean_env
from verirl.curation import near_dedup as ND

#: More wrappers from RL and eval recipes (beside the synthetic set's five).
MORE = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{p}<|im_end|>\n<|im_start|>assistant\n",
    "{p}\nLet's think step by step and output the final answer after \"####\".",
    "Problem: {p}\n\nPut your final answer within \\boxed{{}}.",
    "<｜User｜>{p}\nPlease reason step by step, and put your final answer within \\boxed{{}}.<｜Assistant｜>",
    "Solve the following math problem step by step. The last line of your response should be of the form "
    "Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n{p}\n\nRemember to put your "
    "answer on its own line after \"Answer:\".",
)


def _read(path, key):
    return [json.loads(line)[key] for line in path.read_text().splitlines() if line.strip()]


def _dedup(texts, answers=None, numbers="different", threshold=0.8):
    sig = ND.sign(texts, answers)
    first: dict[str, int] = {}
    reps = [i for i, h in enumerate(sig["hash"]) if first.setdefault(h, i) == i]
    edges = ND.local_edges(sig["digest"], sig["bands"], sig["numbers"], reps, threshold, numbers)
    return ND.clusters(len(texts), sig["hash"], sig["answer"], *edges)


def test_500_wrapped_benchmark_problems_are_duplicates_of_their_originals(benchmarks_dir, capsys) -> None:
    rng = random.Random(23)
    math = _read(benchmarks_dir / "minerva_math.jsonl", "problem") + _read(benchmarks_dir / "olympiadbench.jsonl", "question")
    gsm = _read(benchmarks_dir / "gsm8k.jsonl", "question")
    pool = list(dict.fromkeys(math + gsm))
    rng.shuffle(pool)
    originals, clean = pool[:500], pool[500:2000]
    templates = TEMPLATES + MORE
    wrapped = [templates[k % len(templates)].format(p=p) for k, p in enumerate(originals)]
    texts = originals + clean + wrapped
    cl = _dedup(texts)
    n0 = len(originals) + len(clean)
    found = sum(1 for k in range(500) if cl["root"][n0 + k] == cl["root"][k] and cl["root"][k] == k)
    clean_flagged = sum(1 for i in range(500, n0) if cl["dup_of"][i] >= 0 or cl["near_of"][i] >= 0)
    originals_flagged = sum(1 for i in range(500) if cl["dup_of"][i] >= 0 or cl["near_of"][i] >= 0)
    exact = sum(1 for k in range(500) if cl["dup_of"][n0 + k] == k)
    with capsys.disabled():
        print(f"\nwrapped copies found: {found}/500 ({exact} exact after stripping); clean rows flagged "
              f"{clean_flagged}/{len(clean)}; originals flagged {originals_flagged}/500")
    assert found >= 450
    assert clean_flagged == 0 and originals_flagged == 0


def test_strip_wrappers_keeps_the_problem() -> None:
    p = "Find all real $x$ with $x^2 = 4$."
    for t in TEMPLATES + MORE:
        bare = ND.strip_wrappers(t.format(p=p))
        assert p in bare and len(bare) < len(p) + 12, (t, bare)
    assert ND.strip_wrappers("What is the question: is 2 prime?") == "What is the question: is 2 prime?"


def test_dedup_numbers_same_or_different() -> None:
    """Templated problems that differ only in numbers: one problem (same) or several (different, the default)."""
    base = ("A train leaves the station at {a} km/h and a second train follows it {b} hours later at {c} km/h "
            "on the same track. How many hours after the second train leaves does it catch up with the first?")
    texts = [base.format(a=40 + k, b=2 + k % 3, c=90 + 3 * k) for k in range(20)]
    texts.append("A completely different problem about a frog that jumps along the number line, one or two units at a time.")
    diff = _dedup(texts, numbers="different")
    same = _dedup(texts, numbers="same")
    assert (diff["near_of"][:20] < 0).all() and (diff["dup_of"] < 0).all()  # 20 problems with 20 answers
    assert (same["near_of"][1:20] == 0).all() and same["near_of"][20] == -1  # one template, kept once
    # The same numbers and a reworded tail: a near duplicate in both modes.
    again = _dedup([texts[0], texts[0].replace("How many hours", "After how many hours"), texts[5]])
    assert again["near_of"].tolist() == [-1, 0, -1]


def test_conflicting_answer_flags_exact_copies_whose_answer_differs() -> None:
    texts = ["What is 2+2?", "What is  2 + 2 ?", "Question: What is 2+2?\nAnswer:", "What is 2+2?", "What is 3*3?"]
    answers = ["4", " 4 ", "5", None, "9"]
    cl = _dedup(texts, answers)
    assert cl["dup_of"].tolist() == [-1, 0, 0, 0, -1]
    assert cl["conflict"].tolist() == [False, False, True, False, False]  # spacing is not a conflict; no answer is not one


def test_clusters_do_not_depend_on_the_order_of_edges() -> None:
    """The Ray engine finds edges in any order: the result is a function of the set."""
    import numpy as np

    edges = np.array([[0, 3], [3, 5], [1, 2], [2, 4], [4, 6]])
    sims = np.array([0.9, 0.85, 0.95, 0.8, 0.99])
    a = ND.clusters(7, [str(i) for i in range(7)], np.zeros(7, np.uint64), edges, sims)
    perm = np.random.default_rng(1).permutation(5)
    b = ND.clusters(7, ND.exact_groups([str(i) for i in range(7)]), np.zeros(7, np.uint64), edges[perm], sims[perm])
    for k in ("dup_of", "near_of", "near_sim", "root"):
        assert a[k].tolist() == b[k].tolist(), k
    assert a["root"].tolist() == [0, 1, 1, 0, 1, 0, 1]


def _cli(args, cwd):
    r = subprocess.run([str(BIN / "verirl"), *args], cwd=cwd, env=clean_env(VERIRL_DATA_DIR=str(cwd / "data")),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def test_against_an_earlier_output_and_several_decontaminated_columns(tmp_path) -> None:
    frog = "A frog jumps along the number line starting at zero and each jump is one or two units long."
    (tmp_path / "bench.jsonl").write_text(json.dumps({"id": "q7", "problem": frog}) + "\n")
    _cli(["benchmarks", "add", "frog", "bench.jsonl"], tmp_path)
    old = [{"id": "o1", "problem": "What is 2+2?", "answer": "4"},
           {"id": "o2", "problem": "Compute the sum of the first ten positive odd integers and explain why.", "answer": "100"}]
    (tmp_path / "old.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    _cli(["filter", "old.jsonl", "--out", "old_out.jsonl", "--dedup", "--quiet", "--num-proc", "1"], tmp_path)
    new = [
        {"id": "n1", "problem": "What is  2+2?", "answer": "4", "solution": "It is 4."},  # seen in the old batch
        {"id": "n2", "problem": "Compute the sum of the first ten positive odd integers and explain it.", "answer": "100",
         "solution": "Add them."},  # near the old batch
        {"id": "n3", "problem": "How many ways can the frog reach 10?", "answer": "89", "solution": frog},  # leak in the solution
        {"id": "n4", "problem": "What is 7*6?", "answer": "42", "solution": "Multiply."},
        {"id": "n5", "problem": "What is 7*6?", "answer": "41", "solution": "Multiply."},  # conflicting answer
    ]
    (tmp_path / "new.jsonl").write_text("".join(json.dumps(r) + "\n" for r in new))
    _cli(["filter", "new.jsonl", "--out", "new_out.jsonl", "--dedup", "--against", "old_out.jsonl", "--decontaminate",
          "frog", "--decontaminate-fields", "problem", "solution", "--drop", "--quiet", "--num-proc", "1"], tmp_path)
    kept = [json.loads(line)["id"] for line in (tmp_path / "new_out.jsonl").read_text().splitlines()]
    assert kept == ["n4"]
    removed = {r["id"]: r for r in map(json.loads, (tmp_path / "new_out.jsonl.removed.jsonl").read_text().splitlines())}
    assert removed["n1"]["reason"] == "duplicate" and removed["n2"]["reason"] == "near_duplicate"
    assert removed["n3"]["reason"] == "contaminated"
    assert removed["n5"]["reason"] == "duplicate" and "conflicting_answer" in removed["n5"]["flags"]
    s = json.loads((tmp_path / "new_out.jsonl.summary.json").read_text())
    assert s["dedup"] == {"against_rows": 2, "seen_before": 2}
    # without the second column the leak in the solution is not seen
    _cli(["filter", "new.jsonl", "--out", "one.jsonl", "--decontaminate", "frog", "--quiet", "--num-proc", "1"], tmp_path)
    assert [json.loads(line)["contaminated"] for line in (tmp_path / "one.jsonl").read_text().splitlines()] == [False] * 5
