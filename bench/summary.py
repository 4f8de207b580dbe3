"""`make bench`: every speed claim as a ratio against its baseline, measured in this one run,
with CPU time beside wall time, in one table.

Baselines, each run here next to what it is compared with:

* **math-verify loop**: ``verify(parse(gold), parse(completion))`` in one process, what a
  reward function does without verirl (the 800 completions of math_cot_100, or 512 of them).
* **one batch POST**: the same 512 rollouts in one ``POST /get_reward``.
* **the instruction reference**: if-verifiable's ``evaluate_output_for_sample`` (IFEval/IFBench
  checkers, strict and loose) on the golden table's responses.
* **start-up**: OpenRLHF's remote reward client gives a server 5 tries 1 s apart
  (openrlhf/utils/agent.py ``_post_request(url, data, try_max_times=5)``).
* **code**: ``bench/code_bench.py``'s own table (plain subprocess and the fork-server
  bound), printed as it prints it.

The machine is shared: wall times move with the other tenants' load, so every ratio is taken
within this run, and CPU seconds (user + system, of the process or processes doing the work:
the loop's own process, the server and its verifier processes) are shown beside them.
``--quick`` skips the code bench. ``--before DIR`` also runs every server measurement against
another source tree of this repository (``git archive <commit> | tar -x -C DIR``), served by
this venv with ``PYTHONPATH=DIR``, in the same run, and prints its ratio beside ours.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import REPO, machine, math_rows, table

logging.getLogger("math_verify").setLevel(logging.ERROR)
ROWS: list[list] = []
BEFORE: Path | None = None
BEFORE_RATIO: dict[str, str] = {}  # row key -> the before tree's ratio (wall / CPU), same run


def _row(what: str, baseline: str, b_wall: float, o_wall: float, b_cpu: float | None, o_cpu: float | None,
         ratio_wall: str, ratio_cpu: str, target: str) -> None:
    def s(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    ROWS.append([what, baseline, s(b_wall), s(o_wall), ratio_wall, s(b_cpu), s(o_cpu), ratio_cpu, target,
                 BEFORE_RATIO.get(f"{what}|{baseline}", "-")])


def serve(tmp: Path, before: Path | None = None, port: int | None = None):
    """A warm embedded server (2 verifier processes): this tree's, or ``before``'s."""
    from tests import procs

    if before is None:
        return procs.start_server(tmp, workers=2)
    port = port or procs.free_port()
    env = procs.clean_env(VERIRL_DATA_DIR=str(tmp / "data"), VERIRL_WORKERS="2", PYTHONPATH=str(before))
    proc = procs.Proc([sys.executable, "-m", "verirl_app", "serve", "--port", str(port)], env, tmp / f"before-{port}.log", cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    procs.wait_http(url + "/readyz", proc, timeout=120)
    return proc, url


def grader_in_process(rows: list[dict]) -> None:
    from math_verify import parse, verify

    from verirl.math import grader as math_grader
    from verirl.math.grader import grade

    pairs = [(r["gt"], c) for r in rows for c in r["code"]]
    verify(parse("\\boxed{1}"), parse("\\boxed{1}"))
    grade("\\boxed{1}", "1")
    t0, c0 = time.perf_counter(), time.process_time()
    for g, c in pairs:
        verify(parse(g), parse(c))
    bw, bc = time.perf_counter() - t0, time.process_time() - c0
    math_grader._mv_parse.cache_clear()
    t0, c0 = time.perf_counter(), time.process_time()
    for g, c in pairs:
        grade(c, g)
    ow, oc = time.perf_counter() - t0, time.process_time() - c0
    _row(f"math grader in process, {len(pairs)} completions", "math-verify loop", bw, ow, bc, oc,
         f"{bw / ow:.1f}x", f"{bc / oc:.1f}x", "(the grader's bench: ~30x)")


def score_800(rows: list[dict]) -> None:
    from score_bench import _items, _one_post, _warm, loop_times, server_cpu

    items = _items(rows, 1, salt=f"summary {time.time()} ")
    bw, bc = loop_times(items)

    def fresh(tree: Path | None, salt: str) -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as d:  # a fresh server: every cache in its verifiers is cold
            server, url = serve(Path(d), tree)
            try:
                _warm(url)
                c0 = server_cpu(server.pid)
                t, _ = _one_post(url, [dict(it, completion=it["completion"] + salt) for it in items])
                return t, server_cpu(server.pid) - c0
            finally:
                server.stop()

    what = f"POST /v1/score, {len(items)} items in one request, fresh embedded server (2 verifiers)"
    if BEFORE is not None:
        pw, pc = fresh(BEFORE, " b")
        BEFORE_RATIO[f"{what}|math-verify loop"] = f"{bw / pw:.1f}x / {bc / pc:.1f}x"
    ow, oc = fresh(None, " a")
    _row(what, "math-verify loop", bw, ow, bc, oc, f"{bw / ow:.1f}x", f"{bc / oc:.1f}x", ">= 15x (wall)")


def trainer(rows: list[dict]) -> None:
    import trainer_bench as tb


    salt = f"summary {time.time()}"
    bw, bc = tb.baseline_times(tb._samples(rows, salt + "b"))

    def measure(tree: Path | None, salt: str) -> dict[str, tuple[float, float]]:
        with tempfile.TemporaryDirectory() as d:
            server, url = serve(Path(d), tree)
            tb.SERVER_PID = server.pid
            try:
                tb.slime(url, tb._samples(rows, salt + "warm"))  # warm the server's code paths and connections
                runs = {}
                for name, fn, tag in (("one 512-item POST /get_reward", tb.one_batch, "x"),
                                      ("512 one-item POST /get_reward, new connection each (OpenRLHF), 64 in flight", tb.openrlhf, "o"),
                                      ("512 one-item POST /slime/reward, keep-alive (slime), 64 in flight", tb.slime, "s"),
                                      ("512 async compute_score calls (verl reward loop), 64 in flight", tb.verl_loop, "v")):
                    dt, rewards = fn(url, tb._samples(rows, salt + tag))
                    assert len(rewards) == tb.N
                    runs[name] = (dt, tb.CPU[0])
                return runs
            finally:
                server.stop()

    if BEFORE is not None:
        prev = measure(BEFORE, salt + "p")
        pnames = list(prev)
        pb_w, pb_c = prev[pnames[0]]
        BEFORE_RATIO[f"{pnames[0]}|math-verify loop"] = f"{bw / pb_w:.1f}x / {bc / pb_c:.1f}x"
        for name in pnames[1:]:
            w, c = prev[name]
            BEFORE_RATIO[f"{name}|one 512-item POST"] = f"{w / pb_w:.2f}x / {c / pb_c:.2f}x"
            BEFORE_RATIO[f"{name}|math-verify loop"] = f"{bw / w:.1f}x / {bc / c:.1f}x"
    runs = measure(None, salt)
    names = list(runs)
    batch_w, batch_c = runs[names[0]]
    _row(names[0], "math-verify loop", bw, batch_w, bc, batch_c, f"{bw / batch_w:.1f}x", f"{bc / batch_c:.1f}x", "-")
    for name in names[1:]:
        w, c = runs[name]
        _row(name, "one 512-item POST", batch_w, w, batch_c, c, f"{w / batch_w:.2f}x the time", f"{c / batch_c:.2f}x the CPU",
             "<= 2x the time")
        _row(name, "math-verify loop", bw, w, bc, c, f"{bw / w:.1f}x", f"{bc / c:.1f}x", ">= 3x (wall)")


def startup() -> None:
    """A server restarted under a client already retrying: seconds to its first answer, to the
    first graded answer of a request sent at the restart, and to /readyz ready."""
    import httpx

    from tests import procs

    def run(tmp: Path, port: int, tree: Path | None = None) -> tuple[float, float, float, float]:
        url = f"http://127.0.0.1:{port}"
        marks: dict[str, float] = {}
        t0 = time.perf_counter()

        def grade() -> None:
            while True:
                try:
                    r = httpx.post(url + "/v1/score", json={"items": [{"completion": "\\boxed{2}", "answer": "2"}]}, timeout=120)
                    assert r.json()["results"][0]["verdict"] == "correct"
                    marks["graded"] = time.perf_counter() - t0
                    return
                except httpx.TransportError:
                    time.sleep(0.01)

        th = threading.Thread(target=grade)
        th.start()
        env = procs.clean_env(VERIRL_DATA_DIR=str(tmp / "data"), VERIRL_WORKERS="2")
        if tree is not None:
            env["PYTHONPATH"] = str(tree)
        proc = procs.Proc([sys.executable, "-m", "verirl_app", "serve", "--port", str(port)], env,
                          tmp / f"serve-{time.time()}.log", cwd=tmp)
        try:
            while "answer" not in marks:
                try:
                    httpx.get(url + "/healthz", timeout=5)
                    marks["answer"] = time.perf_counter() - t0
                except httpx.TransportError:
                    time.sleep(0.01)
            while True:
                if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                    marks["ready"] = time.perf_counter() - t0
                    break
                time.sleep(0.01)
            th.join(120)
            from score_bench import server_cpu

            cpu = server_cpu(proc.pid)
        finally:
            proc.stop()
        return marks["answer"], marks["graded"], marks["ready"], cpu

    with tempfile.TemporaryDirectory() as d:
        port = procs.free_port()
        if BEFORE is not None:
            run(Path(d), port, BEFORE)
            pa, pg, pr, _ = run(Path(d), port, BEFORE)
            BEFORE_RATIO["restart: first answer (/healthz) after the process starts|OpenRLHF retry window (5 tries, 1 s apart)"] = f"{pa:.2f} s"
            BEFORE_RATIO["restart: a grading request sent at the restart is answered|OpenRLHF retry window (5 tries, 1 s apart)"] = f"{pg:.2f} s"
            BEFORE_RATIO["restart: /readyz says ready (verifiers warmed)|-"] = f"{pr:.2f} s"
        run(Path(d), port)  # the install is warm (bytecode compiled, files in the page cache)
        answer, graded, ready, cpu = run(Path(d), port)  # the restart
    budget = 4.0  # 5 tries 1 s apart: the last try starts about 4 s after the first
    _row("restart: first answer (/healthz) after the process starts", "OpenRLHF retry window (5 tries, 1 s apart)",
         budget, answer, None, cpu, f"{answer:.2f} s", "-", "<= 3 s")
    _row("restart: a grading request sent at the restart is answered", "OpenRLHF retry window (5 tries, 1 s apart)",
         budget, graded, None, None, f"{graded:.2f} s", "-", "answered, not refused")
    _row("restart: /readyz says ready (verifiers warmed)", "-", budget, ready, None, None, f"{ready:.2f} s", "-", "-")


def instruction() -> None:
    from task_bench import instruction_vs_reference

    rounds = instruction_vs_reference(2, 1.5)
    for k, (bw, ow, bc, oc) in enumerate(rounds):
        n = 350
        _row(f"instruction following, {n} responses in process, round {k + 1}", "if-verifiable reference",
             n / bw, n / ow, n / bc, n / oc, f"{ow / bw:.2f}x", f"{oc / bc:.2f}x", "(claimed 7.2x before; see README)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the code bench")
    ap.add_argument("--before", type=Path, help="another source tree of this repository to measure in the same run")
    args = ap.parse_args()
    global BEFORE
    BEFORE = args.before
    rows = math_rows()
    print(f"machine: {machine()}; load average at start {os.getloadavg()[0]:.1f}", flush=True)
    for step in (grader_in_process, score_800, trainer):
        step(rows)
    startup()
    instruction()
    print(f"load average at end {os.getloadavg()[0]:.1f}\n")
    print(table(["measurement", "baseline", "baseline wall s", "verirl wall s", "ratio (wall)", "baseline CPU s",
                 "verirl CPU s", "ratio (CPU)", "target", f"before: {BEFORE.name if BEFORE else '-'} (wall / CPU)"], ROWS))
    print("\nratio: baseline time / verirl time (how many times faster), except 'the time' rows (verirl time / "
          "baseline time) and the start-up rows (seconds). verirl CPU: the server and its verifier processes.")
    if not args.quick:
        print("\ncode (bench/code_bench.py, as it prints it):\n", flush=True)
        subprocess.run([sys.executable, str(REPO / "bench" / "code_bench.py")], check=False)


if __name__ == "__main__":
    main()
