"""Items/second through POST /v1/score (embedded and distributed) next to an in-process math-verify loop.

Starts real servers (and, for the distributed mode, a throwaway redis-server and
two `verirl worker` processes of one verifier each) on loopback.

Two workloads: the 800 unique math_cot_100 items in one POST (a fresh salt per
repeat, so every verdict cache is cold), and 3,200 items (x4, each copy unique)
in batches of 1,024. ``--repeat N`` repeats the 800-item comparison; the loop
and the API run back to back within each repeat, so their ratio is taken under
the same machine load.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, distributed, machine, math_rows, table

sys.path.insert(0, str(REPO))
logging.getLogger("math_verify").setLevel(logging.ERROR)


def _items(rows, reps: int, salt: str = "") -> list[dict]:
    # Each copy is made unique (a trailing comment), so no verdict cache can help.
    return [
        {"completion": c + f"\n<!-- {salt}copy {k} -->", "answer": r["gt"], "group": f"{r['idx']}.{k}"}
        for k in range(reps)
        for r in rows
        for c in r["code"]
    ]


def _loop(items: list[dict]) -> float:
    return loop_times(items)[0]


def loop_times(items: list[dict]) -> tuple[float, float]:
    """(wall s, CPU s) of the single-process math-verify loop over ``items``."""
    from math_verify import parse, verify

    verify(parse("\\boxed{1}"), parse("\\boxed{1}"))
    t0, c0 = time.perf_counter(), time.process_time()
    for it in items:
        verify(parse(it["answer"]), parse(it["completion"]))
    return time.perf_counter() - t0, time.process_time() - c0


def server_cpu(pid: int) -> float:
    """User + system CPU seconds of a server process and its children (verifier processes)."""
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


def fresh_800(items: list[dict]) -> tuple[float, float, float]:
    """One POST of ``items`` to a fresh embedded server (2 verifier processes, cold caches, warmed
    with other answers): (wall s, server CPU s, slowest item's verification ms)."""
    from tests import procs

    with tempfile.TemporaryDirectory() as d:
        server, url = procs.start_server(Path(d), workers=2)
        try:
            procs.wait_http(url + "/readyz", server, timeout=120)
            _warm(url)
            c0 = server_cpu(server.pid)
            t_api, slowest = _one_post(url, items)
            cpu = server_cpu(server.pid) - c0
        finally:
            server.stop()
    return t_api, cpu, slowest


def _post(url: str, items: list[dict]) -> tuple[float, dict]:
    import http.client
    import json
    from urllib.parse import urlsplit

    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = json.dumps({"items": items}).encode()
    t0 = time.perf_counter()
    conn.request("POST", "/v1/score", body=body, headers={"content-type": "application/json"})
    resp = conn.getresponse()
    out = json.loads(resp.read())
    dt = time.perf_counter() - t0
    conn.close()
    assert resp.status == 200 and len(out["results"]) == len(items)
    return dt, out


def _warm(url: str) -> None:
    """Start the server's code paths with answers the measured items do not share (no cache help)."""
    _post(url, [{"completion": f"so \\boxed{{{k}/7}}", "answer": f"{k + 1}/7"} for k in range(64)])


def _one_post(url: str, items: list[dict]) -> tuple[float, float]:
    """Seconds for one POST of ``items``, and the slowest item's verification ms."""
    dt, out = _post(url, items)
    return dt, max(float(r["details"].get("verify_ms") or 0.0) for r in out["results"])


def _through_api(url: str, items: list[dict], batch: int = 1024) -> float:
    import httpx

    with httpx.Client(timeout=600) as client:
        client.post(url + "/v1/score", json={"items": items[:64]})  # warm
        t0 = time.perf_counter()
        for i in range(0, len(items), batch):
            r = client.post(url + "/v1/score", json={"items": items[i : i + batch]})
            r.raise_for_status()
            assert len(r.json()["results"]) == len(items[i : i + batch])
        return time.perf_counter() - t0


def main() -> None:
    import argparse

    from math_verify import parse, verify

    from tests import procs

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only-800", action="store_true", help="skip the 3,200-item and distributed rows")
    args = ap.parse_args()
    rows = math_rows()
    print(f"machine: {machine()}")
    print("800 unique items (math_cot_100), one POST /v1/score, embedded (2 verifier processes), cold caches\n")
    rep_rows = []
    for rep in range(args.repeat):
        items = _items(rows, 1, salt=f"r{rep} ")
        t_loop, c_loop = loop_times(items)
        t_api, c_api, slowest = fresh_800(items)  # a fresh server: every cache in its verifiers is cold
        rep_rows.append([
            f"{rep + 1}", f"{len(items) / t_loop:,.0f}", f"{len(items) / t_api:,.0f}", f"{t_loop / t_api:.1f}x",
            f"{t_api * 1000:.0f}", f"{c_loop:.2f} / {c_api:.2f}", f"{slowest:.0f}",
        ])
    print(table(["repeat", "loop items/s (math-verify, 1 core)", "/v1/score items/s", "ratio (wall)", "request ms",
                 "CPU s: loop / server (API + verifiers)", "slowest item ms"], rep_rows))
    print()
    if args.only_800:
        return
    items = _items(rows, 4)  # 3,200 items
    n = len(items)
    verify(parse("\\boxed{1}"), parse("\\boxed{1}"))
    t0 = time.perf_counter()
    for it in items:
        verify(parse(it["answer"]), parse(it["completion"]))
    t_loop = time.perf_counter() - t0

    results = [["in-process loop: plain math-verify (1 core)", f"{n / t_loop:,.0f}", "1.0x"]]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        server, url = procs.start_server(tmp, workers=2)
        try:
            t = _through_api(url, items)
            results.append(["/v1/score, embedded (2 verifier processes)", f"{n / t:,.0f}", f"{t_loop / t:.1f}x"])
        finally:
            server.stop()
        with distributed(tmp) as url:
            t = _through_api(url, items)
            results.append(["/v1/score, distributed (RQ, 2 workers x 1)", f"{n / t:,.0f}", f"{t_loop / t:.1f}x"])
    print(f"items: {n} (math_cot_100 x 4, each copy unique), batches of 1,024\n")
    print(table(["path", "items/s", "vs loop"], results))


if __name__ == "__main__":
    main()
