"""Curation throughput: registering problems (dedup + decontamination) and `verirl filter`,
next to the scripts a data team would otherwise write, in the same run.

Baselines: datasketch MinHashLSH in memory (128 permutations, threshold 0.8,
character 5-grams, query-then-insert per problem) for dedup, plus the Open-R1
decontamination logic (a dict of the benchmarks' word 8-grams; a problem is
contaminated if any of its 8-grams is in it). Peak memory is measured as the
growth of the resident set and extrapolated linearly to a million problems.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, SHARED, machine, math_rows, table

sys.path.insert(0, str(REPO))

N = 20_000
BENCHES = ("aime24", "amc23")


def _problems() -> list[str]:
    B = SHARED / "benchmarks"
    base = [json.loads(x)["question"] for x in (B / "gsm8k.jsonl").read_text().splitlines()]
    base += [json.loads(x)["problem"] for x in (B / "minerva_math.jsonl").read_text().splitlines()]
    base += [json.loads(x)["question"] for x in (B / "olympiadbench.jsonl").read_text().splitlines()]
    base += [r["question"] for r in math_rows()]
    rng = random.Random(5)
    out = list(base)
    while len(out) < N:  # variants: two numbers changed (near duplicates of real problems)
        t = rng.choice(base)
        for _ in range(2):
            nums = list(re.finditer(r"\d+", t))
            if nums:
                m = rng.choice(nums)
                t = t[: m.start()] + str(rng.randint(1, 999)) + t[m.end() :]
        out.append(t)
    return out[:N]


def _bench_items(name: str) -> list[dict]:
    rows = [json.loads(x) for x in (SHARED / "benchmarks" / f"{name}.jsonl").read_text().splitlines()]
    return [{"id": str(r.get("id", i)), "text": r["problem"]} for i, r in enumerate(rows)]


def _rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def _redis_mb(url: str) -> float:
    import redis as redislib

    return redislib.Redis.from_url(url).info("memory")["used_memory"] / 2**20


def baseline(texts: list[str], benches: dict[str, list[dict]]) -> tuple[float, int, int, float]:
    import psutil
    from datasketch import MinHash, MinHashLSH

    rss0 = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    # Open-R1 scripts/decontaminate.py logic: normalise, word 8-grams, dict lookup.
    def norm(s: str) -> str:
        return " ".join(s.lower().split())

    lookup: dict[str, set] = {}
    for name, items in benches.items():
        for it in items:
            w = norm(it["text"]).split()
            for i in range(len(w) - 7):
                lookup.setdefault(" ".join(w[i : i + 8]), set()).add(name)
    contaminated = 0
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    dups = 0
    for k, t in enumerate(texts):
        w = norm(t).split()
        if any(" ".join(w[i : i + 8]) in lookup for i in range(len(w) - 7)):
            contaminated += 1
        s = norm(t)
        m = MinHash(num_perm=128)
        m.update_batch([s[i : i + 5].encode() for i in range(max(1, len(s) - 4))])
        if lsh.query(m):
            dups += 1
        lsh.insert(str(k), m)
    secs = time.perf_counter() - t0
    return secs, dups, contaminated, (psutil.Process().memory_info().rss - rss0) / 2**20


PLAIN = r"""
import hashlib, json, re, sys
from datasets import load_dataset
src, bench = sys.argv[1], sys.argv[2]
norm = lambda s: " ".join(s.lower().split())
grams = set()
for line in open(bench):
    w = norm(json.loads(line)["problem"]).split()
    grams.update(" ".join(w[i : i + 8]) for i in range(len(w) - 7))
def sign(batch):
    out = {"h": [], "hit": []}
    for t in batch["problem"]:
        n = norm(t)
        out["h"].append(hashlib.sha1(n.encode()).hexdigest())
        w = n.split()
        out["hit"].append(any(" ".join(w[i : i + 8]) in grams for i in range(len(w) - 7)))
    return out
ds = load_dataset("json", data_files=src, split="train").map(sign, batched=True, batch_size=2000)
seen = set()
keep = [i for i, h in enumerate(ds["h"]) if not (h in seen or seen.add(h))]
ds.select(keep).filter(lambda r: not r["hit"]).to_json(sys.argv[3])
"""


def measured(cmd: list[str], env: dict) -> dict:
    """CPU seconds of the whole process tree (Ray's daemons included) and its peak proportional set size."""
    import psutil

    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root, cpu, peak = psutil.Process(p.pid), {}, 0
    while p.poll() is None:
        total = 0
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            procs = []
        for q in procs:
            try:
                with q.oneshot():
                    c = q.cpu_times()
                    cpu[q.pid] = c.user + c.system
                    total += q.memory_full_info().pss
            except psutil.Error:
                pass
        peak = max(peak, total)
        time.sleep(0.5)
    err = p.stderr.read() if p.stderr else ""
    if p.returncode:
        raise RuntimeError(f"{cmd[:3]} failed: {err[-2000:]}")
    return {"wall": time.perf_counter() - t0, "cpu": sum(cpu.values()), "peak_mb": peak / 2**20}


def scale(rows: int) -> None:
    """`verirl filter` local and ray against the plain `datasets` pass, on a synthetic mix of ``rows`` rows."""
    from tests import procs
    from tests.curation_data import write_mix

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        kinds = write_mix(tmp / "in.jsonl", rows, bench_path=tmp / "bench.jsonl")
        env = procs.clean_env(VERIRL_DATA_DIR=str(tmp / "data"))
        subprocess.run([str(procs.BIN / "verirl"), "benchmarks", "add", "mybench", str(tmp / "bench.jsonl"), "--field",
                        "problem"], env=env, check=True, capture_output=True)
        res = {"plain": measured([str(procs.BIN / "python"), "-c", PLAIN, str(tmp / "in.jsonl"), str(tmp / "bench.jsonl"),
                                  str(tmp / "plain.jsonl")], env)}
        for engine in ("local", "ray"):
            res[engine] = measured([str(procs.BIN / "verirl"), "filter", str(tmp / "in.jsonl"), "--out",
                                    str(tmp / f"{engine}.jsonl"), "--dedup", "--decontaminate", "mybench", "--engine",
                                    engine, "--quiet"], env)
        same = (tmp / "local.jsonl").read_bytes() == (tmp / "ray.jsonl").read_bytes()
    print(f"machine: {machine()}\n{rows:,} rows {kinds}; ray output identical to local: {same}\n")
    base = res["plain"]["cpu"]
    out = [[name, f"{r['wall']:.0f}", f"{r['cpu']:.0f}", f"{r['cpu'] / base:.2f}x", f"{r['peak_mb']:,.0f}"]
           for name, r in (("plain datasets pass (exact hash + 8-gram overlap)", res["plain"]),
                           ("verirl filter --engine local --dedup --decontaminate", res["local"]),
                           ("verirl filter --engine ray (local Ray) --dedup --decontaminate", res["ray"]))]
    print(table(["path", "wall s", "CPU s", "CPU vs plain", "peak PSS MiB (whole tree)"], out))


def main() -> None:
    import httpx

    if "--rows" in sys.argv:
        scale(int(sys.argv[sys.argv.index("--rows") + 1]))
        return

    from tests import procs

    texts = _problems()
    benches = {b: _bench_items(b) for b in BENCHES}
    rows = []
    b_secs, b_dups, b_cont, b_mem = baseline(texts, benches)
    rows.append(["baseline: datasketch MinHashLSH + Open-R1 8-gram lookup (1 core)", f"{N / b_secs:,.0f}", "1.0x",
                 f"{b_dups:,} / {b_cont}", f"{b_mem / N * 1e6 / 1024:.1f} GB"])

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for mode in ("embedded", "distributed"):
            redis = None
            (tmp / mode).mkdir()
            if mode == "embedded":
                server, url = procs.start_server(tmp / mode, workers=2)
            else:
                redis, rurl = procs.start_redis(tmp)
                server, url = procs.start_server(tmp / mode, redis_url=rurl)
            try:
                with httpx.Client(base_url=url, timeout=600) as c:
                    for name, items in benches.items():
                        c.post("/v1/benchmarks", json={"name": name, "items": items}).raise_for_status()
                    t0 = time.perf_counter()
                    dups = cont = 0
                    rss1 = redis1 = 0.0
                    for i in range(0, N, 5000):
                        r = c.post("/v1/problems", json={"problems": [{"text": t} for t in texts[i : i + 5000]]})
                        r.raise_for_status()
                        for p in r.json()["problems"]:
                            dups += bool(p["duplicate_of"] or p["near_duplicates"])
                            cont += bool(p["contamination"])
                        if i == 0:  # growth is measured after the first batch: per problem, not per request
                            rss1 = _rss_mb(server.pid)
                            redis1 = _redis_mb(rurl) if redis is not None else 0.0
                    secs = time.perf_counter() - t0
                    grow = _rss_mb(server.pid) - rss1
                    if redis is not None:
                        grow += _redis_mb(rurl) - redis1
                    grow_per_m = grow / (N - 5000) * 1e6 / 1024
                rows.append([f"verirl POST /v1/problems, {mode} (batches of 5,000)", f"{N / secs:,.0f}", f"{b_secs / secs:.1f}x",
                             f"{dups:,} / {cont}", f"{grow_per_m:.1f} GB" + (" (API + Redis)" if redis else " (API; the SQLite file is on disk)")])
            finally:
                server.stop()
                if redis is not None:
                    redis.stop()

        inp = tmp / "in.jsonl"
        inp.write_text("".join(json.dumps({"id": str(i), "problem": t}) + "\n" for i, t in enumerate(texts)))
        env = procs.clean_env(VERIRL_DATA_DIR=str(tmp / "data"))
        for name in BENCHES:
            subprocess.run([str(procs.BIN / "verirl"), "benchmarks", "add", name, str(SHARED / "benchmarks" / f"{name}.jsonl"), "--field", "problem"],
                           env=env, check=True, capture_output=True)
        def peak_of(path: Path, out: Path) -> tuple[float, float]:
            """Seconds and peak RSS (MiB) of one `verirl filter` run, in a fresh measuring process."""
            code = (
                "import resource, subprocess, sys, time; t = time.perf_counter(); "
                "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
                "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
            )
            args = [str(procs.BIN / "verirl"), "filter", str(path), "--out", str(out), "--dedup", "--decontaminate", *BENCHES, "--quiet"]
            res = subprocess.run([sys.executable, "-c", code, *args], env=env, check=True, capture_output=True, text=True)
            s, m = res.stdout.split()
            return float(s), float(m)

        half = tmp / "half.jsonl"
        half.write_text("".join(json.dumps({"id": str(i), "problem": t}) + "\n" for i, t in enumerate(texts[: N // 2])))
        _, peak_half = peak_of(half, tmp / "half_out.jsonl")
        secs, peak = peak_of(inp, tmp / "out.jsonl")
        per_m = (peak - peak_half) / (N - N // 2) * 1e6 / 1024
        s = json.loads((tmp / "out.jsonl.summary.json").read_text())
        dups = s["flags"].get("duplicate", 0) + s["flags"].get("near_duplicate", 0)  # flagged (nothing dropped)
        rows.append(["verirl filter --dedup --decontaminate (2 processes, incl. start-up)", f"{N / secs:,.0f}", f"{b_secs / secs:.1f}x",
                     f"{dups:,} / {s['flags'].get('contaminated', 0)}", f"{per_m:.1f} GB (peak {peak:,.0f} MiB at {N:,}, {peak_half:,.0f} MiB at {N // 2:,})"])

    print(f"machine: {machine()}")
    print(f"{N:,} problems (GSM8K, Minerva, OlympiadBench, MATH questions + variants with two numbers changed); benchmarks {', '.join(BENCHES)}\n")
    print(table(["path", "problems/s", "vs baseline", "near+exact dups / contaminated", "memory per 1M problems"], rows))


if __name__ == "__main__":
    main()
