"""A trainer-shaped load: 512 prompts x 8 rollouts through OpenRLHF's /get_reward, 64 connections.

One request per prompt (its 8 rollouts, OpenRLHF's body), 64 in flight at a
time, against a real embedded server on loopback. Reports total seconds and
per-request p50/p99 latency, next to the baseline a user would otherwise run:
an in-process reward function calling plain math-verify on each rollout (what
OpenRLHF's `--reward.remote_url reward_func.py` examples do), on the same
4,096 rollouts in the same run. Every rollout is made unique (a trailing
comment) so no cache can help.
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, distributed, machine, math_rows, table

sys.path.insert(0, str(REPO))
logging.getLogger("math_verify").setLevel(logging.ERROR)

PROMPTS, ROLLOUTS, CONNECTIONS = 512, 8, 64


def _requests(rows: list[dict]) -> list[dict]:
    reqs = []
    for p in range(PROMPTS):
        row = rows[p % len(rows)]
        prompt = f"<|im_start|>user\n{row.get('problem', 'problem')} (#{p})<|im_end|>\n<|im_start|>assistant\n"
        queries = [prompt + c + f"\n<!-- rollout {p}.{k} -->" for k, c in enumerate(row["code"][:ROLLOUTS])]
        reqs.append({"query": queries, "prompts": [prompt] * len(queries), "labels": [row["gt"]] * len(queries)})
    return reqs


def _drive(url: str, reqs: list[dict]) -> tuple[float, list[float], int]:
    """64 threads, one keep-alive connection each (OpenRLHF posts with `requests` from Ray tasks).

    The stdlib http.client keeps the load generator's own CPU use small: on 2
    cores it shares the machine with the server it measures.
    """
    import http.client
    import json
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    host, port = urlsplit(url).hostname, urlsplit(url).port
    local = threading.local()

    def post(body: dict) -> tuple[float, int]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(host, port, timeout=600)
        data = json.dumps(body).encode()
        t = time.perf_counter()
        conn.request("POST", "/get_reward", body=data, headers={"content-type": "application/json"})
        resp = conn.getresponse()
        payload = resp.read()
        dt = time.perf_counter() - t
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {payload[:200]!r}")
        return dt, len(json.loads(payload)["rewards"])

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        list(pool.map(post, reqs[:CONNECTIONS]))  # warm: open every connection
        t0 = time.perf_counter()
        out = list(pool.map(post, reqs))
        total = time.perf_counter() - t0
    return total, [o[0] for o in out], sum(o[1] for o in out)


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    from math_verify import parse, verify

    from tests import procs
    from verirl.labels import response_of

    reqs = _requests(math_rows())
    n = sum(len(r["query"]) for r in reqs)
    verify(parse("\\boxed{1}"), parse("\\boxed{1}"))
    t0 = time.perf_counter()
    for body in reqs:
        for q, p, gt in zip(body["query"], body["prompts"], body["labels"], strict=True):
            verify(parse("\\boxed{" + gt + "}"), parse(response_of(q, p)))
    t_base = time.perf_counter() - t0

    runs = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        server, url = procs.start_server(tmp, workers=2)
        try:
            runs["verirl /get_reward, embedded (2 verifier processes)"] = _drive(url, reqs)
        finally:
            server.stop()
        with distributed(tmp) as url:
            runs["verirl /get_reward, distributed (1 API + 2 RQ workers x 1)"] = _drive(url, reqs)
    for name, (_, _, got) in runs.items():
        assert got == n, f"{name}: {got} rewards for {n} rollouts"
    print(f"machine: {machine()}")
    print(f"{PROMPTS} prompts x {ROLLOUTS} rollouts = {n} rollouts, {CONNECTIONS} concurrent connections\n")
    print(table(
        ["path", "total s", "rollouts/s", "p50 ms/request", "p99 ms/request", "vs baseline"],
        [
            ["in-process reward fn, plain math-verify (1 core)", f"{t_base:.2f}", f"{n / t_base:,.0f}", "-", "-", "1.0x"],
        ] + [
            [
                name, f"{total:.2f}", f"{n / total:,.0f}",
                f"{_pct(lat, 0.5) * 1000:.0f}", f"{_pct(lat, 0.99) * 1000:.0f}", f"{t_base / total:.1f}x",
            ]
            for name, (total, lat, _) in runs.items()
        ],
    ))
    for name, (_, lat, _) in runs.items():
        print(f"{name}: mean request latency {statistics.mean(lat) * 1000:.0f} ms over {len(lat)} requests")


if __name__ == "__main__":
    main()
