"""The registry stores directly: an async job's verdicts count once even when it runs twice."""

from __future__ import annotations

import asyncio

import pytest

from service.registry import RedisRegistryStore, Registry, SQLiteRegistryStore


@pytest.fixture(params=["sqlite", "redis"])
def registry(request, tmp_path):
    if request.param == "sqlite":
        reg = Registry(SQLiteRegistryStore(tmp_path / "r.sqlite3"))
    else:
        url = request.getfixturevalue("clean_redis")
        reg = Registry(RedisRegistryStore(url))
    yield reg
    asyncio.run(reg.close())


def test_a_resumed_job_counts_once(registry) -> None:
    updates = [("p1", None, "correct"), ("p1", "m", "incorrect"), ("p1", None, "timeout")]

    async def go():
        first = await registry.record(updates, token="job:abc")
        again = await registry.record(updates, token="job:abc")  # the job run again after a crash
        other = await registry.record(updates[:1])  # a plain /v1/score always counts
        return first, again, other

    first, again, other = asyncio.run(go())
    assert (first["p1"]["attempts"], first["p1"]["correct"], first["p1"]["timeouts"]) == (2, 1, 1)
    assert again["p1"]["attempts"] == 2
    assert (other["p1"]["attempts"], other["p1"]["correct"]) == (3, 2)
