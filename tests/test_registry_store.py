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


#: Ids that met other keys in the old Redis layout (``pstat:<id>|<policy>`` and ``pstat:pols:<id>``,
#: ``prob:<id>`` beside ``prob:hash:<h>``, ``prob:order``, ``prob:seq``, ``bench:version``).
HOSTILE = ["x|", "pols:x", "x", "order", "seq", "version", "hash:", "doc:1:x", "1:x", "", "a:b|c", "x|y"]


def test_hostile_ids_meet_no_other_key(registry) -> None:
    from verirl.curation import primitives as C

    target = "Compute the sum of the first ten odd numbers."
    h = C.exact_hash(target, C.normalize(target))
    ids = [i for i in HOSTILE if i] + [f"hash:{h}"]
    problems = [{"id": pid, "text": f"Problem number {k}: how many sides has a {k + 3}-gon?", "answer": str(k + 3)}
                for k, pid in enumerate(ids)]

    async def go():
        reg = await registry.register(problems)
        # the problem whose id is `hash:<hash of T>` does not block registering T itself
        [t] = await registry.register([{"id": "target", "text": target, "answer": "100"}])
        # verdicts under policies that are themselves hostile ids; `x|` then `pols:x` was the WRONGTYPE
        updates = [(pid, pol, "correct") for pid in ids for pol in (None, "x|", "pols:x", "")]
        stats = await registry.record(updates)
        again = await registry.record([("pols:x", "x", "incorrect")])
        docs = await registry.resolve(ids + ["target"])
        listed, _ = await registry.list(source=None, contaminated=None, dmin=None, dmax=None, bucket=None,
                                        min_attempts=None, limit=100, cursor=0)
        await registry.add_benchmark("version", [{"id": "b1", "text": "a benchmark named like the version counter", "answer": "1"}])
        await registry.add_benchmark("x|", [{"id": "b2", "text": "another benchmark", "answer": "2"}])
        benches = await registry.benchmarks()
        return reg, t, stats, again, docs, listed, benches

    reg, t, stats, again, docs, listed, benches = asyncio.run(go())
    assert all(r["created"] for r in reg), reg
    assert t["created"] and t["duplicate_of"] is None
    assert set(docs) == set(ids) | {"target"}
    for k, pid in enumerate(ids):
        assert docs[pid]["answer"] == str(k + 3)
        assert stats[pid]["attempts"] == 4 and stats[pid]["correct"] == 4, (pid, stats[pid])
    assert again["pols:x"]["attempts"] == 5
    assert {d["id"] for d in listed} == set(ids) | {"target"}
    assert {b["name"] for b in benches} >= {"version", "x|"}


def test_a_registry_in_the_old_key_layout_is_moved_once(clean_redis) -> None:
    """Problems, counters and benchmarks written before ids were length-prefixed stay readable."""
    import json

    import redis

    r = redis.Redis.from_url(clean_redis)
    doc = {"id": "p1", "text": "What is 1+1?", "answer": "2", "task": "math", "hash": "h", "cluster_id": "p1"}
    r.hset("verirl:prob:p1", mapping={"doc": json.dumps(doc), "digest": b"\0" * 16, "seq": 1})
    r.zadd("verirl:prob:order", {"p1": 1})
    r.hset("verirl:pstat:p1|", mapping={"attempts": 3, "correct": 2})
    r.hset("verirl:pstat:p1|m", mapping={"attempts": 1, "correct": 1})
    r.sadd("verirl:pstat:pols:p1", "", "m")
    r.hset("verirl:bench:b", mapping={"hash": "x", "items": json.dumps([{"id": "1", "text": "t"}]), "created_at": 1.0})
    r.sadd("verirl:benches", "b")
    store = RedisRegistryStore(clean_redis)
    try:
        assert store.get_docs(["p1"])["p1"]["answer"] == "2"
        st = store.stats(["p1"])["p1"]
        assert st[""]["attempts"] == "3" and st["m"]["correct"] == "1"
        assert store.load_benchmarks() == {"b": [{"id": "1", "text": "t"}]}
        assert not r.exists("verirl:prob:p1") and r.get("verirl:layout") == b"2"
    finally:
        store.close()
