"""Items/second through POST /v1/score (embedded and distributed) next to an in-process math-verify loop.

Starts real servers (and, for the distributed mode, a throwaway redis-server and
two `verirl worker` processes of one verifier each) on loopback.
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


def _items(rows, reps: int) -> list[dict]:
    # Each copy is made unique (a trailing comment), so no verdict cache can help.
    return [
        {"completion": c + f"\n<!-- copy {k} -->", "answer": r["gt"], "group": f"{r['idx']}.{k}"}
        for k in range(reps)
        for r in rows
        for c in r["code"]
    ]


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
    from math_verify import parse, verify

    from tests import procs

    rows = math_rows()
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
    print(f"machine: {machine()}")
    print(f"items: {n} (math_cot_100 x 4, each copy unique), batches of 1,024\n")
    print(table(["path", "items/s", "vs loop"], results))


if __name__ == "__main__":
    main()
