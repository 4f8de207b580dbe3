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


def _live_in_group(pgid: int) -> list[int]:
    """Processes of a process group that are still running (zombies of reaped parents do not count)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


def _filter(args: list[str], cwd: Path, **kw) -> subprocess.Popen:
    env = clean_env(VERIRL_DATA_DIR=str(cwd / "data"))
    return subprocess.Popen([str(BIN / "verirl"), "filter", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def test_filter_50k_stopped_by_signals_resumes_to_the_uninterrupted_output(big) -> None:
    d = big["dir"]
    add = subprocess.run([str(BIN / "verirl"), "benchmarks", "add", "mybench", str(d / "bench.jsonl"), "--field", "problem"],
                         cwd=d, env=clean_env(VERIRL_DATA_DIR=str(d / "data")), capture_output=True, text=True, timeout=120)
    assert add.returncode == 0, add.stderr
    common = ["--dedup", "--dedup-numbers", "same", "--decontaminate", "mybench", "--num-proc", "2", "--shard-size", "2500"]

    # 1. an uninterrupted run
    p = _filter([str(big["input"]), "--out", "full.jsonl", *common], d)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert "verirl filter" in err and "50000/50000" in err  # the progress bar
    full = json.loads((d / "full.jsonl.summary.json").read_text())

    # 2. one output, stopped three times: Ctrl-C (SIGINT), a crash (SIGKILL) and SIGTERM, each at a later
    #    shard; every stop keeps the shards written so far and the last run completes from them.
    work = d / "resumed.jsonl.work"
    stops = []
    for sig, at_least in ((signal.SIGINT, 4), (signal.SIGKILL, 8), (signal.SIGTERM, 12)):
        p = _filter([str(big["input"]), "--out", "resumed.jsonl", *common], d)
        deadline = time.monotonic() + 300
        while len(list(work.glob("shard-*.pkl"))) < at_least and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.05)
        assert p.poll() is None, "the run finished before it could be stopped"
        t0 = time.monotonic()
        # SIGINT to the whole group, as Ctrl-C in a terminal sends it; SIGTERM to the command alone
        (os.kill if sig == signal.SIGTERM else os.killpg)(p.pid, sig)
        _, err = p.communicate(timeout=30)  # generous: the time is measured and printed, not asserted
        stops.append((sig.name, round(time.monotonic() - t0, 2)))
        shards = sorted(work.glob("shard-*.pkl"))
        assert at_least <= len(shards) < 20
        if sig != signal.SIGKILL:
            assert p.returncode == 128 + sig, err
            assert "run the same command again to resume" in err and "Traceback" not in err, err
            assert not _live_in_group(p.pid), "pool processes outlived the command (respawned?)"
            time.sleep(1)
            assert sorted(work.glob("shard-*.pkl")) == shards, "shards written after the command stopped"
        else:
            time.sleep(1)
            assert not _live_in_group(p.pid)
    p = _filter([str(big["input"]), "--out", "resumed.jsonl", *common], d)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    resumed = json.loads((d / "resumed.jsonl.summary.json").read_text())
    assert resumed["resumed_rows"] >= 12 * 2500
    assert (d / "resumed.jsonl").read_bytes() == (d / "full.jsonl").read_bytes()
    assert not work.exists()
    print(f"\nstopped after (s): {stops}")

    print(f"50k rows: {full['seconds']} s uninterrupted; resumed from {resumed['resumed_rows']} rows; flags {full['flags']}")
    assert full["rows"] == big["rows"] == full["kept"]  # by default nothing is dropped
    assert full["reasons"] == {}  # ... so no row has a reason to be dropped; the checks' flags are counted apart
    assert full["flags"]["duplicate"] + full["flags"]["near_duplicate"] >= 9_900  # half the near copies differ by a number: --dedup-numbers same
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


def _run_cli(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = clean_env(VERIRL_DATA_DIR=str(cwd / "data"))
    return subprocess.run([str(BIN / "verirl"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_csv_list_columns_are_parsed_or_rejected(tmp_path) -> None:
    """A CSV has no lists: JSON-encoded rollouts are parsed; anything else is a clear error, never `unknown`."""
    import csv

    rows = [
        {"id": "a", "problem": "p1", "answer": "4", "rollouts": json.dumps([True, False, True, True])},
        {"id": "b", "problem": "p2", "answer": "9", "rollouts": json.dumps(["incorrect", "incorrect", "timeout", "incorrect", "incorrect"])},
        {"id": "c", "problem": "p3", "answer": "1", "rollouts": json.dumps([1, 1, 1, 1])},
    ]
    with open(tmp_path / "in.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    r = _run_cli(["filter", "in.csv", "--out", "out.jsonl", "--difficulty", "--num-proc", "1", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [o["attempts"] for o in out] == [4, 4, 4]  # the timeout is ours: not an attempt
    assert [o["pass_rate"] for o in out] == [0.75, 0.0, 1.0]
    assert [o["difficulty_bucket"] for o in out] == ["easy", "unsolved", "solved"]

    # Written back to CSV, the list columns are JSON text again (and read back the same way).
    r = _run_cli(["filter", "in.csv", "--out", "again.csv", "--difficulty", "--num-proc", "1", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "again.csv", newline="") as fh:
        back = list(csv.DictReader(fh))
    assert [json.loads(b["rollouts"]) for b in back] == [json.loads(x["rollouts"]) for x in rows]

    (tmp_path / "bad.csv").write_text('id,problem,rollouts\na,p1,"3 of 4 right"\n')
    r = _run_cli(["filter", "bad.csv", "--out", "bad.jsonl", "--difficulty", "--num-proc", "1", "--quiet"], tmp_path)
    assert r.returncode == 1
    assert "column 'rollouts', row 0" in r.stderr and "JSON" in r.stderr, r.stderr
    assert not (tmp_path / "bad.jsonl").exists()


def test_summary_counts_each_dropped_row_once_and_contamination_is_a_list(tmp_path) -> None:
    bench_text = "A frog jumps along the number line starting at zero and each jump is one or two units long."
    (tmp_path / "bench.jsonl").write_text(json.dumps({"id": "q7", "problem": bench_text}) + "\n")
    rows = [
        {"id": "a", "problem": "What is 2+2?", "answer": "4", "completion": "\\boxed{4}"},
        {"id": "b", "problem": "What is  2+2?", "answer": "4", "completion": "\\boxed{5}"},  # duplicate AND wrong
        {"id": "c", "problem": bench_text, "answer": "7", "completion": "\\boxed{3}"},  # contaminated AND wrong
        {"id": "d", "problem": "What is 3*3?", "answer": "9", "completion": "\\boxed{9}"},
        {"id": "e", "problem": "What is 5*5?", "answer": "25", "completion": "\\boxed{24}"},  # wrong
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = _run_cli(["benchmarks", "add", "frog", "bench.jsonl"], tmp_path)
    assert r.returncode == 0, r.stderr
    r = _run_cli(["filter", "in.jsonl", "--out", "kept.parquet", "--dedup", "--decontaminate", "frog", "--verify",
                  "--drop", "--num-proc", "1", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "kept.parquet.summary.json").read_text())
    assert (s["rows"], s["kept"], s["dropped"]) == (5, 2, 3)
    assert s["reasons"] == {"duplicate": 1, "contaminated": 1, "not_verified:incorrect": 1}
    assert sum(s["reasons"].values()) == s["dropped"]
    assert s["flags"] == {"duplicate": 1, "contaminated": 1, "not_verified:incorrect": 3}
    assert json.loads(r.stdout)["reasons"] == s["reasons"]

    import pyarrow.parquet as pq

    t = pq.read_table(tmp_path / "kept.parquet")
    assert t.column("id").to_pylist() == ["a", "d"]
    ctype = t.schema.field("contamination").type
    assert str(ctype).startswith("list<") and "struct<benchmark: string, item: string, rule: string" in str(ctype), ctype

    # Without --drop every row stays, and `contamination` is a list of objects in JSONL too.
    r = _run_cli(["filter", "in.jsonl", "--out", "all.jsonl", "--decontaminate", "frog", "--num-proc", "1", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert [o["contaminated"] for o in out] == [False, False, True, False, False]
    assert out[0]["contamination"] == []
    [flag, *_] = out[2]["contamination"]
    assert isinstance(flag, dict) and (flag["benchmark"], flag["item"]) == ("frog", "q7") and flag["rule"] in ("ngram8", "stripped", "minhash")


_NO_NETWORK = r'''
import json, socket, sys

attempts = []

def _local(host):
    return isinstance(host, str) and (host == "localhost" or host.startswith("127.") or host in ("::1", ""))

def _guard(what, host):
    if not _local(host):
        attempts.append(f"{what} {host}")
        raise OSError("no network in this test")

_connect, _connect_ex, _create, _gai = socket.socket.connect, socket.socket.connect_ex, socket.create_connection, socket.getaddrinfo

def connect(self, addr):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _guard("connect", addr[0])
    return _connect(self, addr)

def connect_ex(self, addr):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _guard("connect", addr[0])
    return _connect_ex(self, addr)

def create_connection(address, *a, **k):
    _guard("create_connection", address[0])
    return _create(address, *a, **k)

def getaddrinfo(host, *a, **k):
    _guard("getaddrinfo", host.decode() if isinstance(host, bytes) else host)
    return _gai(host, *a, **k)

socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
socket.create_connection, socket.getaddrinfo = create_connection, getaddrinfo

from verirl_app import main

try:
    code = main(sys.argv[1:])
finally:
    print("NETWORK-ATTEMPTS " + json.dumps(attempts), file=sys.stderr)
sys.exit(code)
'''


def _hub_attempt(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, list[str], float]:
    base = {k: v for k, v in clean_env(VERIRL_DATA_DIR=str(tmp_path / "data"), HF_HOME=str(tmp_path / "hf")).items()
            if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")}
    t0 = time.monotonic()
    r = subprocess.run([str(BIN / "python"), "-c", _NO_NETWORK, *args], cwd=tmp_path, env={**base, **env},
                       capture_output=True, text=True, timeout=60)
    seconds = time.monotonic() - t0
    line = next(x for x in r.stderr.splitlines() if x.startswith("NETWORK-ATTEMPTS "))
    return r, json.loads(line.removeprefix("NETWORK-ATTEMPTS ")), seconds


def test_hub_names_never_touch_the_network(tmp_path) -> None:
    """`verirl filter openai/gsm8k` and `verirl benchmarks add` fail at once from an empty cache, with no
    socket opened to anything but loopback (sockets patched in the subprocess: no real traffic)."""
    for args in (["filter", "openai/gsm8k", "--out", "x.jsonl", "--dedup"], ["benchmarks", "add", "g", "openai/gsm8k:test"]):
        r, attempts, seconds = _hub_attempt(tmp_path, *args)
        print(f"\n{args[0]} openai/gsm8k: failed in {seconds:.1f} s (process start included); network attempts {attempts}")
        assert r.returncode == 1
        assert "not a dataset in the local Hugging Face cache" in r.stderr and "never downloads" in r.stderr, r.stderr[-2000:]
        assert attempts == [], attempts

    # The guard is not vacuous: with the caller's own HF_HUB_OFFLINE=0 kept, the same command tries
    # the hub, and the patched socket layer sees (and stops) it.
    r, attempts, _ = _hub_attempt(tmp_path, "filter", "openai/gsm8k", "--out", "y.jsonl", "--dedup",
                                  HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0", HF_HUB_ETAG_TIMEOUT="1",
                                  HF_HUB_DOWNLOAD_TIMEOUT="1")
    assert r.returncode == 1 and attempts and all("huggingface" in a for a in attempts), attempts
