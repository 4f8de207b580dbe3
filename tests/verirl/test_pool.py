"""The verifier pool: per-item kill deadlines with items pipelined behind them."""

from __future__ import annotations

import pytest

from verirl.pool import PIPELINE_DEPTH, VerifierPool


@pytest.fixture(scope="module")
def pool():
    p = VerifierPool(1)
    yield p
    p.close()


def _item(i: int, **opts) -> dict:
    return {"id": str(i), "task": "math", "completion": f"\\boxed{{{i}}}", "answer": str(i), "options": opts}


def test_items_behind_a_killed_one_are_rerun_not_lost(pool: VerifierPool) -> None:
    before = pool.stats()["restarts"]
    # One process, so the first item and the next PIPELINE_DEPTH-1 share its pipe.
    items = [_item(0, timeout_s=1e-9)] + [_item(i) for i in range(1, 2 * PIPELINE_DEPTH)]
    futs = [pool.submit(it, it["options"].get("timeout_s", 10.0)) for it in items]
    results = [f.result(timeout=60) for f in futs]
    assert results[0]["verdict"] == "timeout"
    assert [r["verdict"] for r in results[1:]] == ["correct"] * (len(items) - 1)
    assert [r["id"] for r in results] == [it["id"] for it in items]
    assert pool.stats()["restarts"] == before + 1
    assert pool.stats()["alive"] == 1


def test_many_items_come_back_in_order(pool: VerifierPool) -> None:
    items = [_item(i) for i in range(200)]
    results = pool.map(items, [10.0] * len(items))
    assert [r["id"] for r in results] == [str(i) for i in range(200)]
    assert {r["verdict"] for r in results} == {"correct"}


def test_an_idle_process_takes_the_next_item() -> None:
    """Two slow items on two processes run side by side, not one queued behind the other."""
    sleeper = {
        "task": "code",
        "completion": "```python\nimport time\ntime.sleep(4)\nprint(1)\n```",
        "tests": {"format": "stdio", "cases": [{"input": "", "output": "1"}]},
        "options": {"time_limit_s": 4},
    }
    p = VerifierPool(2)
    try:
        futs = [p.submit(dict(sleeper, id=str(i)), 60.0) for i in range(2)]
        busy = 0
        while not any(f.done() for f in futs):
            busy = max(busy, p.stats()["busy"])
            if busy == 2:
                break
        assert busy == 2, "the second item waited behind the first while a process was idle"
        assert [f.result(timeout=60)["verdict"] for f in futs] == ["correct", "correct"]
    finally:
        p.close()
