"""`verirl filter --engine ray` against `--engine local` on the same input, with a local Ray.

Both engines must write the same output file byte for byte (the same kept rows in the
same order, the same added columns and flags), the same removed.jsonl, and summaries that
differ only in the engine's name and the time taken.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.curation_data import write_mix
from tests.procs import BIN, clean_env


def _cli(args: list[str], cwd: Path, timeout: float) -> None:
    import subprocess

    env = clean_env(VERIRL_DATA_DIR=str(cwd / "data"))
    env.pop("RAY_ADDRESS", None)
    r = subprocess.run([str(BIN / "verirl"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-4000:]


def _agree(tmp: Path, rows: int, timeout: float) -> dict:
    kinds = write_mix(tmp / "in.jsonl", rows, seed=3, bench_path=tmp / "bench.jsonl", planted=max(20, rows // 1000))
    _cli(["benchmarks", "add", "mybench", "bench.jsonl", "--field", "problem"], tmp, 120)
    common = ["--dedup", "--decontaminate", "mybench", "--num-proc", "2", "--quiet", "--drop",
              "--keep", "kind != 'numbers' or contaminated"]
    for engine in ("local", "ray"):
        _cli(["filter", "in.jsonl", "--out", f"{engine}.jsonl", "--engine", engine, *common], tmp, timeout)
    assert (tmp / "ray.jsonl").read_bytes() == (tmp / "local.jsonl").read_bytes()
    assert (tmp / "ray.jsonl.removed.jsonl").read_bytes() == (tmp / "local.jsonl.removed.jsonl").read_bytes()
    s = {e: json.loads((tmp / f"{e}.jsonl.summary.json").read_text()) for e in ("local", "ray")}
    for k in ("rows", "kept", "dropped", "reasons", "flags", "examples", "dedup", "contaminated_by_benchmark"):
        assert s["ray"][k] == s["local"][k], k
    assert s["ray"]["engine"] == "ray" and (tmp / "ray.jsonl.report.html").exists()
    flags = s["local"]["flags"]
    assert flags["contaminated"] >= kinds["planted"]  # every planted copy, both engines
    assert flags["duplicate"] >= kinds["exact"] + kinds["whitespace"] + kinds["wrapped"]
    assert flags["near_duplicate"] > 0 and s["local"]["reasons"]["keep"] > 0
    print(f"\n{rows:,} rows agree: kept {s['local']['kept']:,}; flags {flags}; local {s['local']['seconds']} s, "
          f"ray {s['ray']['seconds']} s")
    return s


@pytest.mark.timeout(1200)
def test_ray_and_local_agree_row_for_row_10k(tmp_path) -> None:
    _agree(tmp_path, 10_000, timeout=900)


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_ray_and_local_agree_row_for_row_100k(tmp_path) -> None:
    _agree(tmp_path, 100_000, timeout=1800)


@pytest.mark.timeout(1200)
def test_ray_engine_verifies_grades_difficulty_and_reads_parquet_and_a_datasets_folder(tmp_path) -> None:
    """--verify and --difficulty through verifier pools in Ray actors; parquet and a datasets folder in
    (jsonl in the agreement tests)."""
    import datasets

    rows = [
        {"id": "a", "problem": "What is 2+2?", "answer": "4", "completion": "so \\boxed{4}", "rollouts": ["\\boxed{4}", "\\boxed{5}", "\\boxed{4}", "\\boxed{4}"]},
        {"id": "b", "problem": "What is 3*3?", "answer": "9", "completion": "\\boxed{6}", "rollouts": ["\\boxed{1}", "\\boxed{2}", "x", "\\boxed{3}"]},
        {"id": "c", "problem": "What is  2+2?", "answer": "4", "completion": "\\boxed{4}", "rollouts": ["\\boxed{4}"] * 4},
        {"id": "d", "problem": "Question: What is 2+2?\nAnswer:", "answer": "5", "completion": "\\boxed{5}", "rollouts": ["\\boxed{5}"]},
    ]
    ds = datasets.Dataset.from_list(rows)
    ds.to_parquet(str(tmp_path / "in.parquet"))
    ds.save_to_disk(str(tmp_path / "in_disk"))
    outs = {}
    for src in ("in.parquet", "in_disk"):
        for engine in ("local", "ray"):
            out = f"{src}.{engine}.jsonl"
            _cli(["filter", src, "--out", out, "--dedup", "--verify", "--difficulty", "--engine", engine,
                  "--num-proc", "1", "--quiet"], tmp_path, 600)
            outs[(src, engine)] = [json.loads(line) for line in (tmp_path / out).read_text().splitlines()]
        assert outs[(src, "ray")] == outs[(src, "local")], src
    got = outs[("in.parquet", "ray")]
    assert [o["verdict"] for o in got] == ["correct", "incorrect", "correct", "correct"]
    assert [o["pass_rate"] for o in got] == [0.75, 0.0, 1.0, 1.0]
    assert [o["duplicate_of"] for o in got] == [None, None, "a", "a"]  # the wrapper is stripped before signing
    assert [o["conflicting_answer"] for o in got] == [False, False, False, True]  # 5 is not a's 4
