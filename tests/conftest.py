"""Shared fixtures: a real Redis, real servers and workers, the shared data set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests import procs

SHARED = Path(os.environ.get("VERIRL_SHARED_DIR", procs.REPO.parent / "shared")) / "data"


def _need_shared(path: Path) -> Path:
    if path.exists():
        return path
    if os.environ.get("VERIRL_REQUIRE_SHARED_DATA"):
        pytest.fail(f"{path} is missing and VERIRL_REQUIRE_SHARED_DATA is set (CI needs ../shared/data)")
    pytest.skip(f"{path} not found: a fresh clone has no ../shared/data; CI provides it")


@pytest.fixture(scope="session")
def math_cot_rows() -> list[dict]:
    path = _need_shared(SHARED / "math_cot_100.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    return _need_shared(SHARED / "benchmarks")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory):
    """A Redis database the tests may flush: VERIRL_TEST_REDIS_URL when given (.ci/run reserves db 15),
    else a throwaway redis-server of our own on a free port. Never the shell's REDIS_URL: that may be a
    database someone uses, and the tests flush theirs around each test."""
    url = os.environ.get("VERIRL_TEST_REDIS_URL")
    if os.environ.get("PYTEST_XDIST_WORKER", "gw0") != "gw0":
        url = None  # tests flush their database: the reserved one is the first process's, the others start their own
    proc = None
    if not url:
        try:
            proc, url = procs.start_redis(tmp_path_factory.mktemp("redis"))
        except RuntimeError as exc:
            pytest.fail(f"tests need Redis: install redis-server, or reserve a database with VERIRL_TEST_REDIS_URL ({exc})")
    import redis

    r = redis.Redis.from_url(url)
    try:
        r.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis at {url} does not answer: {exc}")
    yield url
    if proc:
        proc.stop()


@pytest.fixture
def clean_redis(redis_url: str):
    """Flush the test database around a test (as RQ's own tests do): only the one ``redis_url`` reserved."""
    import redis

    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    yield redis_url
    r.flushdb()


@pytest.fixture(scope="module")
def embedded_server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("embedded")
    proc, url = procs.start_server(tmp, workers=2)
    yield url
    proc.stop()


@pytest.fixture(scope="module")
def distributed(tmp_path_factory: pytest.TempPathFactory, redis_url: str):
    """A real API in distributed mode with two real `verirl worker` processes."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    tmp = tmp_path_factory.mktemp("distributed")
    proc, url = procs.start_server(tmp, redis_url=redis_url, VERIRL_CHUNK_SIZE="16")
    workers = [procs.start_worker(tmp, redis_url, 1, name=f"w{i}") for i in range(2)]
    procs.wait_http(url + "/readyz", proc, timeout=90)
    yield {"url": url, "server": proc, "workers": workers, "tmp": tmp, "redis_url": redis_url}
    for w in workers:
        w.stop()
    proc.stop()
