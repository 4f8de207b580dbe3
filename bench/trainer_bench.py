"""What a trainer's reward call costs: one item per request, as current trainers send them.

512 real completions (math_cot_100, each made unique with a trailing comment so
no verdict cache helps), against one real embedded server (2 verifier
processes) on loopback, in one run:

* **in-process math-verify loop**: the baseline a user would otherwise run
  inside the trainer (``verify(parse(gold), parse(response))`` per rollout).
* **one batch POST**: all 512 in one ``POST /get_reward`` (OpenRLHF's legacy
  batched body).
* **OpenRLHF, one item per POST**: ``openrlhf/utils/agent.py``
  ``SingleTurnAgentExecutor._fetch_rewards_via_http`` posts
  ``{"query": [q], "prompts": [p], "labels": [l]}`` with a new
  ``aiohttp.ClientSession`` (a new connection) per call; 64 in flight.
* **slime, one item per POST**: ``slime/rollout/rm_hub/__init__.py``
  ``remote_rm`` posts ``{"prompt", "response", "label"}`` on one shared
  keep-alive session (connector limit 64); 64 in flight.
* **verl reward loop**: ``verl/experimental/reward_loop/reward_manager/naive.py``
  ``run_single`` awaits an async ``compute_score(data_source=...,
  solution_str=..., ground_truth=..., extra_info=...)`` per item
  (``verirl.integrations.verl.compute_score_async``); 64 in flight.

Loads are generated with threads on stdlib ``http.client`` (cheap on the CPU
this 2-core machine shares with the server it measures), except the verl row,
which runs verirl's own verl function as verl would. ``--repeat N`` runs the
whole comparison N times (each repeat prints its own row set; ratios are taken
within a repeat). The machine is shared, so wall times swing with its load;
the "server CPU s" column (user + system time of the API process and its
verifier processes during the row, from psutil) is the cost that does not
depend on how busy the other tenants are.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import logging
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from _common import REPO, machine, math_rows, table

sys.path.insert(0, str(REPO))
logging.getLogger("math_verify").setLevel(logging.ERROR)

N, IN_FLIGHT = 512, 64
PROMPT = "<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"


def _samples(rows: list[dict], salt: str) -> list[tuple[str, str, str]]:
    """(prompt, response, label) for N unique rollouts."""
    flat = [(r, c) for r in rows for c in r["code"]]
    out = []
    for i in range(N):
        row, c = flat[i % len(flat)]
        prompt = PROMPT.format(q=row.get("question", "problem")[:400])
        out.append((prompt, c + f"\n<!-- {salt} {i} -->", row["gt"]))
    return out


class _Poster:
    """``post(path, body)`` from many threads; one keep-alive connection per thread, or a new one per call."""

    def __init__(self, url: str, keep_alive: bool) -> None:
        u = urlsplit(url)
        self.host, self.port, self.keep_alive = u.hostname, u.port, keep_alive
        self.local = threading.local()

    def post(self, path: str, body: dict) -> object:
        conn = getattr(self.local, "conn", None) if self.keep_alive else None
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
            if self.keep_alive:
                self.local.conn = conn
        conn.request("POST", path, body=json.dumps(body).encode(), headers={"content-type": "application/json"})
        resp = conn.getresponse()
        payload = resp.read()
        if not self.keep_alive:
            conn.close()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {payload[:200]!r}")
        return json.loads(payload)


SERVER_PID = 0
CPU: list[float] = []  # server CPU seconds of the last timed section


class _Timed:
    """Wall seconds and server CPU seconds of a section."""

    def __enter__(self) -> _Timed:
        self.cpu0, self.t0 = _server_cpu(SERVER_PID), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        CPU[:] = [_server_cpu(SERVER_PID) - self.cpu0]


def _run_threads(fn, args: list, workers: int = IN_FLIGHT) -> tuple[float, list]:
    with ThreadPoolExecutor(workers) as pool:
        with _Timed() as t:
            out = list(pool.map(fn, args))
        return t.seconds, out


def baseline(samples: list[tuple[str, str, str]]) -> float:
    return baseline_times(samples)[0]


def baseline_times(samples: list[tuple[str, str, str]]) -> tuple[float, float]:
    """(wall s, CPU s) of the in-process math-verify loop over the samples."""
    from math_verify import parse, verify

    verify(parse("\\boxed{1}"), parse("\\boxed{1}"))
    t0, c0 = time.perf_counter(), time.process_time()
    for _, resp, gt in samples:
        verify(parse(gt), parse(resp))
    return time.perf_counter() - t0, time.process_time() - c0


def one_batch(url: str, samples: list) -> tuple[float, list[float]]:
    p = _Poster(url, keep_alive=True)
    body = {"query": [pr + r for pr, r, _ in samples], "prompts": [pr for pr, _, _ in samples], "labels": [g for _, _, g in samples]}
    with _Timed() as t:
        out = p.post("/get_reward", body)
    return t.seconds, out["rewards"]  # type: ignore[index]


def openrlhf(url: str, samples: list) -> tuple[float, list[float]]:
    p = _Poster(url, keep_alive=False)
    dt, out = _run_threads(lambda s: p.post("/get_reward", {"query": [s[0] + s[1]], "prompts": [s[0]], "labels": [s[2]]}), samples)
    return dt, [o["rewards"][0] for o in out]


def slime(url: str, samples: list) -> tuple[float, list[float]]:
    p = _Poster(url, keep_alive=True)
    _run_threads(lambda s: p.post("/slime/reward", {"prompt": s[0], "response": "warm", "label": "1"}), samples[:IN_FLIGHT])
    dt, out = _run_threads(lambda s: p.post("/slime/reward", {"prompt": s[0], "response": s[1], "label": s[2]}), samples)
    return dt, [float(o) for o in out]  # type: ignore[arg-type]


def verl_loop(url: str, samples: list) -> tuple[float, list[float]]:
    os.environ["VERIRL_URL"] = url
    from verirl.integrations.verl import compute_score_async

    async def go() -> tuple[float, list[float]]:
        sem = asyncio.Semaphore(IN_FLIGHT)

        async def one(s: tuple[str, str, str]) -> float:
            async with sem:
                r = await compute_score_async(data_source="math", solution_str=s[1], ground_truth=s[2], extra_info={"index": 0})
                return r["score"]

        await asyncio.gather(*(one(s) for s in samples[:IN_FLIGHT]))  # warm: open the connections
        with _Timed() as t:
            out = await asyncio.gather(*(one(s) for s in samples))
        return t.seconds, list(out)

    return asyncio.run(go())


def _server_cpu(pid: int) -> float:
    import psutil

    p = psutil.Process(pid)
    total = 0.0
    for proc in [p, *p.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    from tests import procs

    rows = math_rows()
    print(f"machine: {machine()}")
    print(f"{N} rollouts (math_cot_100 completions, each unique), {IN_FLIGHT} in flight; embedded server, 2 verifier processes\n")
    with tempfile.TemporaryDirectory() as d:
        server, url = procs.start_server(Path(d), workers=2)
        global SERVER_PID
        SERVER_PID = server.pid
        try:
            for rep in range(args.repeat):
                salt = f"r{rep}"
                t_base, c_base = baseline_times(_samples(rows, salt + "b"))
                paths = {
                    "one batch POST /get_reward (512 items)": (one_batch, "x"),
                    "OpenRLHF: 512 one-item POST /get_reward, new connection each": (openrlhf, "o"),
                    "slime: 512 one-item POST /slime/reward, keep-alive": (slime, "s"),
                    "verl reward loop: 512 async compute_score calls": (verl_loop, "v"),
                }
                runs = {}
                for name, (fn, tag) in paths.items():
                    dt, rewards = fn(url, _samples(rows, salt + tag))
                    runs[name] = (dt, rewards, CPU[0])
                t_batch = runs["one batch POST /get_reward (512 items)"][0]
                rows_out = [["in-process loop: plain math-verify (1 core)", f"{t_base:.3f}", f"{N / t_base:,.0f}", "-", "1.0x",
                             f"{c_base:.2f} (the loop's own)"]]
                for name, (dt, rewards, cpu) in runs.items():
                    assert len(rewards) == N, name
                    rows_out.append([name, f"{dt:.3f}", f"{N / dt:,.0f}", f"{dt / t_batch:.2f}x", f"{t_base / dt:.1f}x", f"{cpu:.2f}"])
                print(f"repeat {rep + 1}/{args.repeat} (load average {os.getloadavg()[0]:.1f})")
                print(table(["path", "seconds", "items/s", "time vs one batch (target <= 2x)", "items/s vs loop (target >= 3x)",
                             "server CPU s"], rows_out))
                print()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
