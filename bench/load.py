"""Sustained mixed load against a distributed deployment on this machine: 1 API + 2 workers.

64 concurrent clients (threads, one keep-alive connection each) send a bounded
number of /v1/score requests, each 14 math items (real completions of
math_cot_100, made unique) and 2 code items (a stdio problem run in the
sandbox; one right program, one wrong). Reports throughput and p50/p99
request latency, and asserts that no item is lost or duplicated: every
request's results carry exactly its item ids, in order, and the expected
verdicts. Stops early at 10 minutes.

    python bench/load.py [--requests 400]
    python bench/load.py --chaos [--window 12]    (faults on a schedule: bench/chaos.py)
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from _common import REPO, distributed, machine, math_rows, table

sys.path.insert(0, str(REPO))

CLIENTS = 64
TIME_LIMIT_S = 600
GOOD = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
BAD = "```python\na, b = map(int, input().split())\nprint(a - b)\n```"
TESTS = {"format": "stdio", "cases": [{"input": "2 3\n", "output": "5\n"}, {"input": "10 -4\n", "output": "6\n"}]}


def _bodies(rows: list[dict], n: int) -> list[tuple[dict, list[str]]]:
    flat = [(c, r["gt"]) for r in rows for c in r["code"]]
    out = []
    k = 0
    for q in range(n):
        items = []
        for j in range(14):
            c, gt = flat[k % len(flat)]
            items.append({"id": f"q{q}-m{j}", "completion": c + f"\n<!-- {q}.{j} -->", "answer": gt, "group": f"q{q}"})
            k += 1
        items.append({"id": f"q{q}-good", "task": "code", "completion": GOOD, "tests": TESTS, "language": "python"})
        items.append({"id": f"q{q}-bad", "task": "code", "completion": BAD, "tests": TESTS, "language": "python"})
        out.append(({"items": items}, [it["id"] for it in items]))
    return out


def drive(url: str, bodies: list[tuple[dict, list[str]]]) -> dict:
    host, port = urlsplit(url).hostname, urlsplit(url).port
    local = threading.local()
    stop_at = time.monotonic() + TIME_LIMIT_S
    problems: list[str] = []

    def one(job: tuple[dict, list[str]]) -> tuple[float, int] | None:
        body, ids = job
        if time.monotonic() > stop_at:
            return None
        conn = getattr(local, "conn", None) or http.client.HTTPConnection(host, port, timeout=600)
        local.conn = conn
        t = time.perf_counter()
        conn.request("POST", "/v1/score", body=json.dumps(body), headers={"content-type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        dt = time.perf_counter() - t
        if resp.status != 200:
            problems.append(f"HTTP {resp.status}: {data[:200]!r}")
            return dt, 0
        res = json.loads(data)["results"]
        got = [r["id"] for r in res]
        if got != ids:
            problems.append(f"ids differ for {ids[0]}: {len(got)} results for {len(ids)} items")
        if res[-2]["verdict"] != "correct" or res[-1]["verdict"] != "incorrect":
            problems.append(f"code verdicts for {ids[0]}: {res[-2]['verdict']}, {res[-1]['verdict']}")
        return dt, len(got)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        out = [o for o in pool.map(one, bodies) if o is not None]
    total = time.perf_counter() - t0
    lat = sorted(o[0] for o in out)
    return {
        "seconds": total,
        "requests": len(out),
        "items": sum(o[1] for o in out),
        "expected_items": sum(len(b[1]) for b in bodies[: len(out)]),
        "p50": lat[len(lat) // 2],
        "p99": lat[min(len(lat) - 1, int(0.99 * len(lat)))],
        "problems": problems,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--chaos", action="store_true", help="inject faults on a schedule while checking every item")
    ap.add_argument("--window", type=float, default=12.0, help="--chaos: seconds per fault window")
    args = ap.parse_args()
    if args.chaos:
        from chaos import main as chaos_main

        chaos_main(args.window)
        return
    bodies = _bodies(math_rows(), args.requests)
    with tempfile.TemporaryDirectory() as d, distributed(Path(d)) as url:
        res = drive(url, bodies)
    print(f"machine: {machine()}")
    print(f"1 API + 2 workers (1 verifier process each), {CLIENTS} concurrent clients, {res['requests']} requests x 16 items (14 math, 2 code)\n")
    print(table(
        ["requests", "items", "seconds", "items/s", "requests/s", "p50 ms", "p99 ms", "lost or duplicated"],
        [[res["requests"], res["items"], f"{res['seconds']:.1f}", f"{res['items'] / res['seconds']:,.0f}",
          f"{res['requests'] / res['seconds']:.1f}", f"{res['p50'] * 1000:.0f}", f"{res['p99'] * 1000:.0f}",
          res["expected_items"] - res["items"]]],
    ))
    assert not res["problems"], res["problems"][:5]
    assert res["items"] == res["expected_items"], "items lost"


if __name__ == "__main__":
    main()
