"""`verirl filter` over real datasets files: progress, resume after SIGKILL, the same output."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.procs import BIN, clean_env


def _vocab(rng: random.Random, n: int = 5000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(n)]


def _problem(rng: random.Random, vocab: list[str]) -> str:
    """A problem-shaped text of random words and numbers (distinct problems share little)."""
    words = [rng.choice(vocab) if rng.random() > 0.15 else str(rng.randint(2, 999)) for _ in range(rng.randint(25, 45))]
    return " ".join(words).capitalize() + "? Find the value."


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> dict:
    """50,000 rows: unique problems, exact and near (one number changed) copies, planted benchmark copies."""
    d = tmp_path_factory.mktemp("filter50k")
    rng = random.Random(11)
    vocab = _vocab(rng)
    uniques = [_problem(rng, vocab) for _ in range(40_000)]
    bench = [{"id": f"b{i}", "problem": _problem(rng, vocab) + " 17"} for i in range(200)]
    rows = [{"id": f"r{i}", "problem": t, "answer": str(i % 97)} for i, t in enumerate(uniques)]
    for k in range(10_000 - 40):
        src = rows[rng.randrange(40_000)]["problem"]
        text = src.replace(" ", "  ", 3) if k % 2 else src + " (7)"
        rows.append({"id": f"c{k}", "problem": text, "answer": "0"})
    for k in range(40):
        b = bench[k]["problem"]
        rows.append({"id": f"leak{k}", "problem": b if k % 2 else b[: -len(" 17")] + " 18", "answer": "0"})
    rng.shuffle(rows)
    inp = d / "in.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "bench.jsonl").write_text("".join(json.dumps(b) + "\n" for b in bench))
    return {"dir": d, "input": inp, "rows": len(rows)}


def _filter(args: list[str], cwd: Path, **kw) -> subprocess.Popen:
    env = clean_env(VERIRL_DATA_DIR=str(cwd / "data"))
    return subprocess.Popen([str(BIN / "verirl"), "filter", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def test_filter_50k_resumes_after_kill_and_matches_an_uninterrupted_run(big) -> None:
    d = big["dir"]
    add = subprocess.run([str(BIN / "verirl"), "benchmarks", "add", "mybench", str(d / "bench.jsonl"), "--field", "problem"],
                         cwd=d, env=clean_env(VERIRL_DATA_DIR=str(d / "data")), capture_output=True, text=True, timeout=120)
    assert add.returncode == 0, add.stderr
    common = ["--dedup", "--decontaminate", "mybench", "--num-proc", "2", "--shard-size", "2500"]

    # 1. an uninterrupted run
    p = _filter([str(big["input"]), "--out", "full.jsonl", *common], d)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert "verirl filter" in err and "50000/50000" in err  # the progress bar
    full = json.loads((d / "full.jsonl.summary.json").read_text())

    # 2. a run killed half-way, then run again
    p = _filter([str(big["input"]), "--out", "resumed.jsonl", *common], d)
    work = d / "resumed.jsonl.work"
    deadline = time.monotonic() + 300
    while len(list(work.glob("shard-*.pkl"))) < 8 and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.05)
    assert p.poll() is None, "the run finished before it could be killed"
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    shards_done = len(list(work.glob("shard-*.pkl")))
    assert 8 <= shards_done < 20
    p = _filter([str(big["input"]), "--out", "resumed.jsonl", *common], d)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    resumed = json.loads((d / "resumed.jsonl.summary.json").read_text())
    assert resumed["resumed_rows"] >= 8 * 2500
    assert (d / "resumed.jsonl").read_bytes() == (d / "full.jsonl").read_bytes()
    assert not work.exists()

    print(f"\n50k rows: {full['seconds']} s uninterrupted; resumed from {resumed['resumed_rows']} rows; reasons {full['reasons']}")
    assert full["rows"] == big["rows"] == full["kept"]  # by default nothing is dropped
    assert full["reasons"]["duplicate"] + full["reasons"]["near_duplicate"] >= 9_900
    assert full["contaminated_by_benchmark"] == {"mybench": 40}


def test_filter_verify_difficulty_keep_and_formats(tmp_path) -> None:
    import datasets

    rows = [
        {"id": "a", "problem": "What is 2+2?", "answer": "4", "completion": "so \\boxed{4}", "rollouts": ["\\boxed{4}", "\\boxed{5}", "\\boxed{4}", "\\boxed{4}"]},
        {"id": "b", "problem": "What is 3*3?", "answer": "9", "completion": "\\boxed{6}", "rollouts": ["\\boxed{1}", "\\boxed{2}", "x", "\\boxed{3}"]},
        {"id": "c", "problem": "What is  2+2?", "answer": "4", "completion": "\\boxed{4}", "rollouts": ["\\boxed{4}"] * 4},
    ]
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "in.parquet"))
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "in_disk"))
    for src in ("in.parquet", "in_disk"):
        p = _filter([src, "--out", f"{src}.out.jsonl", "--dedup", "--verify", "--difficulty", "--num-proc", "1"], tmp_path)
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        out = [json.loads(line) for line in (tmp_path / f"{src}.out.jsonl").read_text().splitlines()]
        assert [o["verdict"] for o in out] == ["correct", "incorrect", "correct"]
        assert [o["pass_rate"] for o in out] == [0.75, 0.0, 1.0]
        assert [o["difficulty_bucket"] for o in out] == ["easy", "unsolved", "solved"]
        assert [o["duplicate_of"] for o in out] == [None, None, "a"]
    summary = json.loads((tmp_path / "in_disk.out.jsonl.summary.json").read_text())
    assert summary["verdicts"] == {"correct": 2, "incorrect": 1} and summary["examples"]["duplicate"][0]["id"] == "c"

    # --drop removes what the checks flagged; --keep applies an expression on top.
    p = _filter(["in.parquet", "--out", "kept.parquet", "--dedup", "--verify", "--difficulty", "--drop", "--keep", "pass_rate is not None and pass_rate < 1", "--num-proc", "1"], tmp_path)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    kept = datasets.load_dataset("parquet", data_files=str(tmp_path / "kept.parquet"), split="train")
    assert kept["id"] == ["a"]
    s = json.loads((tmp_path / "kept.parquet.summary.json").read_text())
    assert (s["rows"], s["kept"], s["dropped"]) == (3, 1, 2)

    # A clear error for a column that is not there.
    p = _filter(["in.parquet", "--out", "x.jsonl", "--verify", "--completion-field", "nope"], tmp_path)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 1 and "no column 'nope'" in err
