"""Shared bench helpers: the data set, the machine line, table printing."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("VERIRL_SHARED_DIR", REPO.parent / "shared")) / "data"


@contextmanager
def distributed(tmp: Path, workers: int = 2) -> Iterator[str]:
    """A throwaway Redis, one API in distributed mode and ``workers`` `verirl worker`s of one
    verifier each, on loopback; yields the API's URL."""
    from tests import procs

    redis, rurl = procs.start_redis(tmp)
    server, url = procs.start_server(tmp, redis_url=rurl)
    ws = [procs.start_worker(tmp, rurl, 1, name=f"bench{i}") for i in range(workers)]
    try:
        procs.wait_http(url + "/readyz", server, timeout=120)
        yield url
    finally:
        for w in ws:
            w.stop()
        server.stop()
        redis.stop()


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def math_rows() -> list[dict]:
    path = SHARED / "math_cot_100.jsonl"
    if not path.exists():
        raise SystemExit(f"{path} not found (benchmarks need ../shared/data)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(out)
