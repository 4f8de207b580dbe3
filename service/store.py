"""Durable state of the service: async jobs (and, through the registry, problems).

Two implementations of one interface: :class:`SQLiteStore` for the embedded
mode (a file under the data dir) and :class:`RedisStore` for the distributed
mode (so any API replica can answer for any job). Every method is async; the
SQLite one runs its statements in a thread.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol

_OPEN = ("queued", "running")


class Store(Protocol):
    async def create_job(self, job_id: str, request: dict, items: int, owner: str = "", lease_s: int = 0) -> None: ...
    async def get_job(self, job_id: str) -> dict | None: ...
    async def set_job_status(self, job_id: str, status: str) -> None: ...
    async def finish_job(self, job_id: str, status: str, result: dict | None) -> None: ...
    async def open_jobs(self) -> list[str]: ...
    async def job_request(self, job_id: str) -> dict | None: ...
    async def claim_job(self, job_id: str, owner: str, ttl_s: int) -> bool: ...
    async def renew_job(self, job_id: str, owner: str, ttl_s: int) -> bool: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


def open_sqlite(path: Path) -> sqlite3.Connection:
    """A connection shared by threads (callers hold a lock), autocommit, WAL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


class SQLiteStore:
    def __init__(self, path: Path) -> None:
        self._db = open_sqlite(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL, items INTEGER NOT NULL,"
            " created_at REAL NOT NULL, finished_at REAL, request TEXT NOT NULL, result TEXT)"
        )
        self._lock = threading.Lock()

    async def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        def go() -> list[tuple]:
            with self._lock:
                return self._db.execute(sql, args).fetchall()

        return await asyncio.to_thread(go)

    async def create_job(self, job_id: str, request: dict, items: int, owner: str = "", lease_s: int = 0) -> None:
        await self._run(
            "INSERT INTO jobs (id, status, items, created_at, request) VALUES (?, 'queued', ?, ?, ?)",
            (job_id, items, time.time(), json.dumps(request)),
        )

    async def get_job(self, job_id: str) -> dict | None:
        rows = await self._run(
            "SELECT id, status, items, created_at, finished_at, result FROM jobs WHERE id = ?", (job_id,)
        )
        if not rows:
            return None
        jid, status, items, created, finished, result = rows[0]
        return {
            "job_id": jid,
            "status": status,
            "items": items,
            "created_at": created,
            "finished_at": finished,
            "result": json.loads(result) if result else None,
        }

    async def set_job_status(self, job_id: str, status: str) -> None:
        await self._run("UPDATE jobs SET status = ? WHERE id = ?", (status, job_id))

    async def finish_job(self, job_id: str, status: str, result: dict | None) -> None:
        await self._run(
            "UPDATE jobs SET status = ?, finished_at = ?, result = ? WHERE id = ?",
            (status, time.time(), json.dumps(result) if result is not None else None, job_id),
        )

    async def open_jobs(self) -> list[str]:
        rows = await self._run("SELECT id FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at")
        return [r[0] for r in rows]

    async def job_request(self, job_id: str) -> dict | None:
        rows = await self._run("SELECT request FROM jobs WHERE id = ?", (job_id,))
        return json.loads(rows[0][0]) if rows else None

    async def claim_job(self, job_id: str, owner: str, ttl_s: int) -> bool:
        return True  # one embedded process owns its file (its runner never starts a job twice)

    async def renew_job(self, job_id: str, owner: str, ttl_s: int) -> bool:
        return True

    async def ping(self) -> bool:
        await self._run("SELECT 1")
        return True

    async def close(self) -> None:
        with self._lock:
            self._db.close()


_RENEW = """
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] or not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""


def _job_key(job_id: str) -> str:
    """A job id (a caller may send any in ``GET /v1/jobs/{id}``) length-prefixed: never another key."""
    return f"verirl:job:{len(job_id)}:{job_id}"


def _lease_key(job_id: str) -> str:
    return f"verirl:job-lease:{len(job_id)}:{job_id}"


class RedisStore:
    """Jobs as hashes ``verirl:job:<len>:<id>`` (leases ``verirl:job-lease:<len>:<id>``); open
    ones in the set ``verirl:jobs:open``."""

    def __init__(self, redis: Any, job_ttl_s: int) -> None:
        self.r = redis
        self.ttl = job_ttl_s

    async def create_job(self, job_id: str, request: dict, items: int, owner: str = "", lease_s: int = 0) -> None:
        """Store an open job; with ``owner``, its lease too, in the same transaction (a new
        job is never open without a lease, so no sweep can take it from its API)."""
        key = _job_key(job_id)
        async with self.r.pipeline(transaction=True) as p:
            if owner:
                p.set(_lease_key(job_id), owner, ex=lease_s)
            p.hset(
                key,
                mapping={
                    "status": "queued",
                    "items": items,
                    "created_at": time.time(),
                    "request": json.dumps(request),
                },
            )
            p.expire(key, self.ttl)
            p.sadd("verirl:jobs:open", job_id)
            await p.execute()

    async def get_job(self, job_id: str) -> dict | None:
        h = await self.r.hmget(_job_key(job_id), "status", "items", "created_at", "finished_at", "result")
        if h[0] is None:
            return None
        return {
            "job_id": job_id,
            "status": h[0].decode(),
            "items": int(h[1]),
            "created_at": float(h[2]),
            "finished_at": float(h[3]) if h[3] else None,
            "result": json.loads(h[4]) if h[4] else None,
        }

    async def set_job_status(self, job_id: str, status: str) -> None:
        await self.r.hset(_job_key(job_id), "status", status)

    async def finish_job(self, job_id: str, status: str, result: dict | None) -> None:
        key = _job_key(job_id)
        mapping: dict[str, Any] = {"status": status, "finished_at": time.time()}
        if result is not None:
            mapping["result"] = json.dumps(result)
        async with self.r.pipeline(transaction=True) as p:
            p.hset(key, mapping=mapping)
            p.hdel(key, "request")
            p.srem("verirl:jobs:open", job_id)
            p.delete(_lease_key(job_id))
            await p.execute()

    async def open_jobs(self) -> list[str]:
        return sorted(m.decode() for m in await self.r.smembers("verirl:jobs:open"))

    async def job_request(self, job_id: str) -> dict | None:
        raw = await self.r.hget(_job_key(job_id), "request")
        return json.loads(raw) if raw else None

    async def claim_job(self, job_id: str, owner: str, ttl_s: int) -> bool:
        """Take the lease of a job nobody holds (new, or its API stopped renewing): only one
        API replica runs a job. Never true for a lease that is held, even by ``owner``."""
        return bool(await self.r.set(_lease_key(job_id), owner, nx=True, ex=ttl_s))

    async def renew_job(self, job_id: str, owner: str, ttl_s: int) -> bool:
        """Extend ``owner``'s lease (or take it back if it lapsed and nobody took it); false
        when another replica holds it now."""
        return bool(await self.r.eval(_RENEW, 1, _lease_key(job_id), owner, ttl_s))

    async def ping(self) -> bool:
        return bool(await self.r.ping())

    async def close(self) -> None:
        await self.r.aclose()
