"""The problem registry: problems, their dedup/contamination metadata, benchmarks,
and difficulty counters, in SQLite (embedded mode) or Redis (distributed mode).

Both backends expose the same bulk, synchronous methods; :class:`Registry`
runs them in a worker thread and owns the in-memory benchmark indexes.

Redis layout (all keys under ``verirl:``)::

    prob:<id>            hash: doc (JSON), digest (MinHash bytes), seq
    prob:hash:<h128>     id of the first problem with that normalised text (SET NX)
    prob:order           zset seq -> id (listing order, cursor = seq)
    prob:seq             counter
    lsh:<band>:<key>     set of ids in that LSH bucket (shared by every API replica)
    pstat:<id>|<policy>  hash: attempts, correct, timeouts, errors, ewma, last_seen
                         (policy "" = all policies), updated by one Lua script: atomic
    bench:<name>         hash: hash, items (JSON), created_at;  benches: set of names
    bench:version        counter, bumped on every benchmark registration
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
import time
from pathlib import Path
from typing import Any

from verirl import curation as C
from verirl.errors import InvalidInput, NotFound

DECIDED = ("correct", "incorrect", "no_answer")
MAX_NEAR = 5


def _delta(verdict: str) -> tuple[int, int, int, int, float | None]:
    """(attempts, correct, timeouts, errors, outcome for the EWMA) of one verdict."""
    if verdict == "correct":
        return 1, 1, 0, 0, 1.0
    if verdict in DECIDED:
        return 1, 0, 0, 0, 0.0
    if verdict == "timeout":
        return 0, 0, 1, 0, None
    return 0, 0, 0, 1, None


def _stats_doc(row: dict | None) -> dict[str, Any]:
    row = row or {}
    d = C.difficulty(
        int(row.get("attempts") or 0),
        int(row.get("correct") or 0),
        int(row.get("timeouts") or 0),
        int(row.get("errors") or 0),
        float(row["ewma"]) if row.get("ewma") not in (None, "", b"") else None,
        float(row["last_seen"]) if row.get("last_seen") not in (None, "", b"") else None,
    )
    d["difficulty"] = round(1.0 - d["smoothed_pass_rate"], 6)
    return d


# =========================================================================== SQLite

class SQLiteRegistryStore:
    def __init__(self, path: Path) -> None:
        from .store import open_sqlite

        self.db = open_sqlite(path)
        self.lock = threading.Lock()
        self._bucket_sizes: dict[str, int] = {}  # COUNT(*) of the buckets of the registration in progress
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS problems (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, hash TEXT NOT NULL,
                doc TEXT NOT NULL, digest BLOB, source TEXT, cluster_id TEXT, contaminated INTEGER NOT NULL DEFAULT 0,
                created_at REAL NOT NULL);
            CREATE INDEX IF NOT EXISTS problems_hash ON problems(hash);
            CREATE INDEX IF NOT EXISTS problems_source ON problems(source);
            CREATE TABLE IF NOT EXISTS lsh (key TEXT NOT NULL, id TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS lsh_key ON lsh(key);
            CREATE TABLE IF NOT EXISTS stats (
                id TEXT NOT NULL, policy TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                correct INTEGER NOT NULL DEFAULT 0, timeouts INTEGER NOT NULL DEFAULT 0,
                errors INTEGER NOT NULL DEFAULT 0, ewma REAL, last_seen REAL, difficulty REAL,
                PRIMARY KEY (id, policy));
            CREATE TABLE IF NOT EXISTS benchmarks (name TEXT PRIMARY KEY, hash TEXT NOT NULL, items TEXT NOT NULL, created_at REAL NOT NULL);
            CREATE TABLE IF NOT EXISTS counted (token TEXT PRIMARY KEY, at REAL NOT NULL);
            """
        )

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def _bucket_size(self, key: str) -> int:
        n = self._bucket_sizes.get(key)
        if n is None:
            n = self._bucket_sizes[key] = self.db.execute("SELECT COUNT(*) FROM lsh WHERE key = ?", (key,)).fetchone()[0]
        return n

    # -- problems ------------------------------------------------------------
    def get_docs(self, ids: list[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        with self.lock:
            for i in range(0, len(ids), 500):
                part = ids[i : i + 500]
                q = ",".join("?" * len(part))
                for pid, doc in self.db.execute(f"SELECT id, doc FROM problems WHERE id IN ({q})", part):
                    out[pid] = json.loads(doc)
        return out

    def claim_hashes(self, pairs: list[tuple[str, str]]) -> list[str | None]:
        hashes = sorted({h for h, _ in pairs})
        seen: dict[str, str] = {}
        with self.lock:
            for i in range(0, len(hashes), 500):
                part = hashes[i : i + 500]
                q = ",".join("?" * len(part))
                for h, pid, _ in self.db.execute(
                    f"SELECT hash, id, MIN(seq) FROM problems WHERE hash IN ({q}) GROUP BY hash", part
                ):
                    seen[h] = pid
        out: list[str | None] = []
        for h, pid in pairs:
            first = seen.setdefault(h, pid)  # the first of this call claims it
            out.append(first if first != pid else None)
        return out

    def lsh_candidates(self, keys_list: list[list[str]]) -> list[set[str]]:
        out = []
        with self.lock:
            self._bucket_sizes = {}  # sizes of this call's buckets only: memory stays flat
            for keys in keys_list:
                q = ",".join("?" * len(keys))
                ids: set[str] = set()
                counts = dict.fromkeys(keys, 0)
                for k, pid in self.db.execute(f"SELECT key, id FROM lsh WHERE key IN ({q})", keys):
                    ids.add(pid)
                    counts[k] += 1
                self._bucket_sizes.update(counts)
                out.append(ids)
        return out

    def digests(self, ids: list[str]) -> dict[str, Any]:
        import numpy as np

        out = {}
        with self.lock:
            for i in range(0, len(ids), 500):
                part = ids[i : i + 500]
                q = ",".join("?" * len(part))
                for pid, dig in self.db.execute(f"SELECT id, digest FROM problems WHERE id IN ({q})", part):
                    if dig:
                        out[pid] = np.frombuffer(dig, dtype=np.uint32)
        return out

    def insert(self, docs: list[dict], digests: list[Any], keys: list[list[str] | None]) -> None:
        now = time.time()
        with self.lock:
            self.db.execute("BEGIN")
            try:
                for doc, dig, ks in zip(docs, digests, keys, strict=True):
                    self.db.execute(
                        "INSERT OR IGNORE INTO problems (id, hash, doc, digest, source, cluster_id, contaminated, created_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (doc["id"], doc["hash"], json.dumps(doc), dig.tobytes(), doc.get("source"), doc["cluster_id"],
                         1 if doc["contamination"] else 0, now),
                    )
                    rows = []
                    for k in ks or ():  # at most BUCKET_CAP ids per bucket (see verirl.curation.BUCKET_CAP)
                        n = self._bucket_size(k)
                        if n < C.BUCKET_CAP:
                            self._bucket_sizes[k] = n + 1
                            rows.append((k, doc["id"]))
                    if rows:
                        self.db.executemany("INSERT INTO lsh (key, id) VALUES (?, ?)", rows)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def iter_problems(self, batch: int = 2000):
        import numpy as np

        last = 0
        while True:
            with self.lock:
                rows = self.db.execute(
                    "SELECT seq, id, doc, digest FROM problems WHERE seq > ? ORDER BY seq LIMIT ?", (last, batch)
                ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [(pid, json.loads(doc), np.frombuffer(dig, dtype=np.uint32)) for _, pid, doc, dig in rows]

    def set_contamination(self, updates: dict[str, list[dict]]) -> None:
        with self.lock:
            self.db.execute("BEGIN")
            for pid, flags in updates.items():
                row = self.db.execute("SELECT doc FROM problems WHERE id = ?", (pid,)).fetchone()
                if row:
                    doc = json.loads(row[0])
                    doc["contamination"] = flags
                    self.db.execute(
                        "UPDATE problems SET doc = ?, contaminated = ? WHERE id = ?", (json.dumps(doc), 1 if flags else 0, pid)
                    )
            self.db.execute("COMMIT")

    def list_ids(self, *, source: str | None, contaminated: bool | None, dmin: float | None, dmax: float | None,
                 bucket: str | None, min_attempts: int | None, limit: int, cursor: int) -> tuple[list[str], int | None]:
        where = ["p.seq > ?"]
        args: list[Any] = [cursor]
        if source is not None:
            where.append("p.source = ?")
            args.append(source)
        if contaminated is not None:
            where.append("p.contaminated = ?")
            args.append(1 if contaminated else 0)
        diff = "COALESCE(s.difficulty, 0.5)"
        if dmin is not None:
            where.append(f"{diff} >= ?")
            args.append(dmin)
        if dmax is not None:
            where.append(f"{diff} <= ?")
            args.append(dmax)
        if min_attempts is not None:
            where.append("COALESCE(s.attempts, 0) >= ?")
            args.append(min_attempts)
        sql = (
            "SELECT p.seq, p.id, COALESCE(s.attempts, 0), COALESCE(s.correct, 0) FROM problems p"
            " LEFT JOIN stats s ON s.id = p.id AND s.policy = '' WHERE " + " AND ".join(where) + " ORDER BY p.seq"
        )
        out: list[str] = []
        last = None
        with self.lock:
            for seq, pid, att, cor in self.db.execute(sql, args):
                if bucket is not None and C.bucket(att, cor) != bucket:
                    continue
                out.append(pid)
                last = seq
                if len(out) >= limit:
                    break
            else:
                last = None
        return out, last

    def buckets(self) -> dict[str, Any]:
        counts: collections.Counter[str] = collections.Counter()
        with self.lock:
            n = self.db.execute("SELECT COUNT(*) FROM problems").fetchone()[0]
            for att, cor in self.db.execute(
                "SELECT s.attempts, s.correct FROM stats s JOIN problems p ON p.id = s.id WHERE s.policy = ''"
            ):
                counts[C.bucket(att, cor)] += 1
        counts["unknown"] += n - sum(counts.values())
        return {"problems": n, "sampled": n, "buckets": dict(counts)}

    # -- benchmarks ----------------------------------------------------------
    def get_benchmark(self, name: str) -> dict | None:
        with self.lock:
            row = self.db.execute("SELECT hash, items, created_at FROM benchmarks WHERE name = ?", (name,)).fetchone()
        return {"name": name, "hash": row[0], "items": json.loads(row[1]), "created_at": row[2]} if row else None

    def save_benchmark(self, name: str, h: str, items: list[dict]) -> None:
        with self.lock:
            self.db.execute(
                "INSERT OR IGNORE INTO benchmarks (name, hash, items, created_at) VALUES (?, ?, ?, ?)",
                (name, h, json.dumps(items), time.time()),
            )

    def load_benchmarks(self) -> dict[str, list[dict]]:
        with self.lock:
            return {n: json.loads(it) for n, it in self.db.execute("SELECT name, items FROM benchmarks ORDER BY name")}

    def benchmark_version(self) -> int:
        with self.lock:
            return int(self.db.execute("SELECT COUNT(*) FROM benchmarks").fetchone()[0])

    # -- difficulty ----------------------------------------------------------
    def record(self, updates: list[tuple[str, str | None, str]], now: float, token: str | None = None) -> None:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if token is not None:  # an async job counts once, even when it is run again after a crash
                    self.db.execute("INSERT OR IGNORE INTO counted (token, at) VALUES (?, ?)", (token, now))
                    if self.db.execute("SELECT changes()").fetchone()[0] == 0:
                        self.db.execute("COMMIT")
                        return
                for pid, policy, verdict in updates:
                    a, c, t, e, x = _delta(verdict)
                    for pol in ("", policy) if policy else ("",):
                        self.db.execute(
                            "INSERT INTO stats (id, policy, attempts, correct, timeouts, errors, ewma, last_seen)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                            " ON CONFLICT(id, policy) DO UPDATE SET attempts = attempts + excluded.attempts,"
                            " correct = correct + excluded.correct, timeouts = timeouts + excluded.timeouts,"
                            " errors = errors + excluded.errors, last_seen = excluded.last_seen,"
                            " ewma = CASE WHEN excluded.ewma IS NULL THEN ewma WHEN ewma IS NULL THEN excluded.ewma"
                            f" ELSE (1 - {C.EWMA_ALPHA}) * ewma + {C.EWMA_ALPHA} * excluded.ewma END",
                            (pid, pol, a, c, t, e, x, now),
                        )
                        self.db.execute(
                            "UPDATE stats SET difficulty = 1.0 - (correct + ?) / (attempts + ?) WHERE id = ? AND policy = ?",
                            (C.PRIOR[0], C.PRIOR[0] + C.PRIOR[1], pid, pol),
                        )
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def stats(self, ids: list[str]) -> dict[str, dict[str, dict]]:
        out: dict[str, dict[str, dict]] = {}
        cols = ("attempts", "correct", "timeouts", "errors", "ewma", "last_seen")
        with self.lock:
            for i in range(0, len(ids), 500):
                part = ids[i : i + 500]
                q = ",".join("?" * len(part))
                for row in self.db.execute(
                    f"SELECT id, policy, {', '.join(cols)} FROM stats WHERE id IN ({q})", part
                ):
                    out.setdefault(row[0], {})[row[1]] = dict(zip(cols, row[2:], strict=True))
        return out

    def ping(self) -> bool:
        with self.lock:
            self.db.execute("SELECT 1")
        return True


# =========================================================================== Redis

_RECORD_LUA = """
local alpha = tonumber(ARGV[1])
local now = ARGV[2]
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 5
  local key = KEYS[i]
  redis.call('HINCRBY', key, 'attempts', ARGV[base + 1])
  redis.call('HINCRBY', key, 'correct', ARGV[base + 2])
  redis.call('HINCRBY', key, 'timeouts', ARGV[base + 3])
  redis.call('HINCRBY', key, 'errors', ARGV[base + 4])
  redis.call('HSET', key, 'last_seen', now)
  local x = ARGV[base + 5]
  if x ~= '' then
    local cur = redis.call('HGET', key, 'ewma')
    if cur then
      redis.call('HSET', key, 'ewma', tostring((1 - alpha) * tonumber(cur) + alpha * tonumber(x)))
    else
      redis.call('HSET', key, 'ewma', x)
    end
  end
end
return #KEYS
"""


_INSERT_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'digest', ARGV[3], 'seq', ARGV[4])
redis.call('ZADD', KEYS[2], 'NX', ARGV[4], ARGV[1])
local cap = tonumber(ARGV[5])
for i = 3, #KEYS do
  if redis.call('SCARD', KEYS[i]) < cap then
    redis.call('SADD', KEYS[i], ARGV[1])
  end
end
return 1
"""


class RedisRegistryStore:
    def __init__(self, url: str) -> None:
        import redis

        from .dispatch import redis_options

        self.r = redis.Redis.from_url(url, **redis_options())
        self._record = self.r.register_script(_RECORD_LUA)
        self._insert = self.r.register_script(_INSERT_LUA)

    def close(self) -> None:
        self.r.close()

    def _field(self, ids: list[str], name: str) -> list[tuple[str, bytes]]:
        """(id, value) of one hash field of each problem that has it."""
        if not ids:
            return []
        p = self.r.pipeline(transaction=False)
        for pid in ids:
            p.hget(f"verirl:prob:{pid}", name)
        return [(pid, v) for pid, v in zip(ids, p.execute(), strict=True) if v]

    def get_docs(self, ids: list[str]) -> dict[str, dict]:
        return {pid: json.loads(d) for pid, d in self._field(ids, "doc")}

    def claim_hashes(self, pairs: list[tuple[str, str]]) -> list[str | None]:
        p = self.r.pipeline(transaction=False)
        for h, pid in pairs:
            p.set(f"verirl:prob:hash:{h}", pid, nx=True)
            p.get(f"verirl:prob:hash:{h}")
        res = p.execute()
        out: list[str | None] = []
        for k, (_h, pid) in enumerate(pairs):
            owner = res[2 * k + 1].decode()
            out.append(None if owner == pid else owner)
        return out

    def lsh_candidates(self, keys_list: list[list[str]]) -> list[set[str]]:
        p = self.r.pipeline(transaction=False)
        for keys in keys_list:
            p.sunion([f"verirl:lsh:{k}" for k in keys])
        return [{m.decode() for m in s} for s in p.execute()]

    def digests(self, ids: list[str]) -> dict[str, Any]:
        import numpy as np

        return {pid: np.frombuffer(d, dtype=np.uint32) for pid, d in self._field(ids, "digest")}

    def insert(self, docs: list[dict], digests: list[Any], keys: list[list[str] | None]) -> None:
        if not docs:
            return
        first = self.r.incrby("verirl:prob:seq", len(docs)) - len(docs) + 1
        p = self.r.pipeline(transaction=False)
        for k, (doc, dig, ks) in enumerate(zip(docs, digests, keys, strict=True)):
            # one script per problem: atomic, and 1 command instead of ~36
            self._insert(
                keys=[f"verirl:prob:{doc['id']}", "verirl:prob:order", *(f"verirl:lsh:{kk}" for kk in ks or ())],
                args=[doc["id"], json.dumps(doc), dig.tobytes(), first + k, C.BUCKET_CAP],
                client=p,
            )
        p.execute()

    def iter_problems(self, batch: int = 2000):
        import numpy as np

        start = 0
        while True:
            ids = [m.decode() for m in self.r.zrange("verirl:prob:order", start, start + batch - 1)]
            if not ids:
                return
            start += len(ids)
            p = self.r.pipeline(transaction=False)
            for pid in ids:
                p.hmget(f"verirl:prob:{pid}", "doc", "digest")
            out = []
            for pid, (doc, dig) in zip(ids, p.execute(), strict=True):
                if doc:
                    out.append((pid, json.loads(doc), np.frombuffer(dig, dtype=np.uint32)))
            yield out

    def set_contamination(self, updates: dict[str, list[dict]]) -> None:
        docs = self.get_docs(list(updates))
        p = self.r.pipeline(transaction=True)
        for pid, doc in docs.items():
            doc["contamination"] = updates[pid]
            p.hset(f"verirl:prob:{pid}", "doc", json.dumps(doc))
        p.execute()

    def list_ids(self, *, source: str | None, contaminated: bool | None, dmin: float | None, dmax: float | None,
                 bucket: str | None, min_attempts: int | None, limit: int, cursor: int) -> tuple[list[str], int | None]:
        out: list[str] = []
        pos = cursor
        page = 1000
        while True:
            got = self.r.zrangebyscore("verirl:prob:order", f"({pos}", "+inf", start=0, num=page, withscores=True)
            if not got:
                return out, None
            ids = [m.decode() for m, _ in got]
            docs = self.get_docs(ids)
            stats = self.stats(ids)
            for (_m, seq), pid in zip(got, ids, strict=True):
                pos = int(seq)
                doc = docs.get(pid)
                if doc is None:
                    continue
                if source is not None and doc.get("source") != source:
                    continue
                if contaminated is not None and bool(doc.get("contamination")) != contaminated:
                    continue
                st = _stats_doc(stats.get(pid, {}).get(""))
                if dmin is not None and st["difficulty"] < dmin:
                    continue
                if dmax is not None and st["difficulty"] > dmax:
                    continue
                if min_attempts is not None and st["attempts"] < min_attempts:
                    continue
                if bucket is not None and st["bucket"] != bucket:
                    continue
                out.append(pid)
                if len(out) >= limit:
                    return out, pos

    def buckets(self, sample: int = 5000) -> dict[str, Any]:
        n = int(self.r.zcard("verirl:prob:order"))
        ids = [m.decode() for m in self.r.zrange("verirl:prob:order", -sample, -1)]
        stats = self.stats(ids)
        counts = collections.Counter(_stats_doc(stats.get(i, {}).get(""))["bucket"] for i in ids)
        return {"problems": n, "sampled": len(ids), "buckets": dict(counts)}

    def get_benchmark(self, name: str) -> dict | None:
        h = self.r.hmget(f"verirl:bench:{name}", "hash", "items", "created_at")
        if h[0] is None:
            return None
        return {"name": name, "hash": h[0].decode(), "items": json.loads(h[1]), "created_at": float(h[2])}

    def save_benchmark(self, name: str, h: str, items: list[dict]) -> None:
        key = f"verirl:bench:{name}"
        if self.r.hsetnx(key, "hash", h):
            p = self.r.pipeline(transaction=True)
            p.hset(key, mapping={"items": json.dumps(items), "created_at": time.time()})
            p.sadd("verirl:benches", name)
            p.incr("verirl:bench:version")
            p.execute()

    def load_benchmarks(self) -> dict[str, list[dict]]:
        out = {}
        for n in sorted(m.decode() for m in self.r.smembers("verirl:benches")):
            raw = self.r.hget(f"verirl:bench:{n}", "items")
            if raw:
                out[n] = json.loads(raw)
        return out

    def benchmark_version(self) -> int:
        return int(self.r.get("verirl:bench:version") or 0)

    def record(self, updates: list[tuple[str, str | None, str]], now: float, token: str | None = None) -> None:
        if token is not None and not self.r.set(f"verirl:counted:{token}", 1, nx=True, ex=30 * 86400):
            return  # an async job counts once (at most once: see the README)
        keys: list[str] = []
        args: list[Any] = []
        pols: dict[str, set[str]] = {}
        for pid, policy, verdict in updates:
            a, c, t, e, x = _delta(verdict)
            for pol in ("", policy) if policy else ("",):
                pols.setdefault(pid, set()).add(pol)
                keys.append(f"verirl:pstat:{pid}|{pol}")
                args += [a, c, t, e, "" if x is None else x]
        p = self.r.pipeline(transaction=False)
        for pid, ps in pols.items():
            p.sadd(f"verirl:pstat:pols:{pid}", *ps)
        p.execute()
        # One script run per 500 updates: each run is atomic; a key may repeat (applied in order).
        for i in range(0, len(keys), 500):
            self._record(keys=keys[i : i + 500], args=[C.EWMA_ALPHA, now] + args[i * 5 : (i + 500) * 5])

    def stats(self, ids: list[str]) -> dict[str, dict[str, dict]]:
        out: dict[str, dict[str, dict]] = {}
        if not ids:
            return out
        p = self.r.pipeline(transaction=False)
        for pid in ids:
            p.smembers(f"verirl:pstat:pols:{pid}")
        keys = [(pid, m.decode()) for pid, ms in zip(ids, p.execute(), strict=True) for m in ms]
        p = self.r.pipeline(transaction=False)
        for pid, pol in keys:
            p.hgetall(f"verirl:pstat:{pid}|{pol}")
        for (pid, pol), h in zip(keys, p.execute(), strict=True):
            out.setdefault(pid, {})[pol] = {k.decode(): v.decode() for k, v in h.items()}
        return out

    def ping(self) -> bool:
        return bool(self.r.ping())


# =========================================================================== the registry

class Registry:
    """Registration (dedup + contamination), benchmarks, lookups and difficulty."""

    def __init__(self, store: SQLiteRegistryStore | RedisRegistryStore, threshold: float = C.DEFAULT_THRESHOLD) -> None:
        self.store = store
        self.threshold = threshold
        self._bench: dict[str, C.Benchmark] = {}
        self._bench_version = -1
        self._lock = threading.Lock()  # one registration at a time per process

    @classmethod
    def from_settings(cls, settings: Any) -> Registry:
        if settings.redis_url:
            return cls(RedisRegistryStore(settings.redis_url), settings.dedup_threshold)
        return cls(SQLiteRegistryStore(settings.data_dir / "registry.sqlite3"), settings.dedup_threshold)

    async def close(self) -> None:
        await asyncio.to_thread(self.store.close)

    # -- benchmarks ----------------------------------------------------------
    def _benchmarks(self) -> dict[str, C.Benchmark]:
        v = self.store.benchmark_version()
        if v != self._bench_version:
            self._bench = C.build_benchmarks(self.store.load_benchmarks())
            self._bench_version = v
        return self._bench

    def _add_benchmark(self, name: str, items: list[dict]) -> dict[str, Any]:
        with self._lock:
            h = C.content_hash(items)
            existing = self.store.get_benchmark(name)
            if existing is not None:
                if existing["hash"] != h:
                    raise InvalidInput(
                        f"benchmark {name!r} is frozen with {existing['hash']}; register changed content under a new name",
                        field="name",
                    )
                return {"name": name, "hash": h, "items": len(items), "created": False, "rechecked": 0, "newly_contaminated": 0}
            self.store.save_benchmark(name, h, items)
            self._bench_version = -1
            bench = self._benchmarks()
            rechecked = newly = 0
            for rows in self.store.iter_problems():
                updates = {}
                for pid, doc, dig in rows:
                    rechecked += 1
                    flags = C.check_all(bench, doc.get("text", ""), dig)
                    if flags != doc.get("contamination"):
                        if flags and not doc.get("contamination"):
                            newly += 1
                        updates[pid] = flags
                if updates:
                    self.store.set_contamination(updates)
            return {"name": name, "hash": h, "items": len(items), "created": True, "rechecked": rechecked, "newly_contaminated": newly}

    async def add_benchmark(self, name: str, items: list[dict]) -> dict[str, Any]:
        return await asyncio.to_thread(self._add_benchmark, name, items)

    async def benchmarks(self) -> list[dict[str, Any]]:
        def go():
            out = []
            for n, items in self.store.load_benchmarks().items():
                out.append({"name": n, "items": len(items), "hash": C.content_hash(items)})
            return out

        return await asyncio.to_thread(go)

    # -- registration --------------------------------------------------------
    def _register(self, problems: list[dict], threshold: float) -> list[dict]:
        with self._lock:
            bench = self._benchmarks()
            texts = [p["text"] for p in problems]
            norms = [C.normalize(t) for t in texts]
            hashes = [C.exact_hash(t, n) for t, n in zip(texts, norms, strict=True)]
            ids = [p.get("id") or f"h{h[:24]}" for p, h in zip(problems, hashes, strict=True)]
            existing = self.store.get_docs(list(dict.fromkeys(ids)))
            todo = [i for i, pid in enumerate(ids) if pid not in existing]
            # same id twice in one call: the first wins, the others answer with its metadata
            seen: set[str] = set()
            fresh = []
            for i in todo:
                if ids[i] not in seen:
                    seen.add(ids[i])
                    fresh.append(i)
            digests = C.minhashes([texts[i] for i in fresh], [norms[i] for i in fresh])
            keys = [C.band_keys(d) for d in digests]
            owners = self.store.claim_hashes([(hashes[i], ids[i]) for i in fresh])
            cands = self.store.lsh_candidates(keys)
            cand_ids = sorted({c for s in cands for c in s})
            stored_digests = self.store.digests(cand_ids)
            clusters = {pid: d.get("cluster_id", pid) for pid, d in self.store.get_docs(cand_ids + [o for o in owners if o]).items()}
            batch = C.LSHIndex()
            docs, digs, lsh_keys = [], [], []
            for k, i in enumerate(fresh):
                pid, dig, ks = ids[i], digests[k], keys[k]
                dup_of = owners[k]
                near: list[dict] = []
                if dup_of is not None:
                    cluster = clusters.get(dup_of, dup_of)
                else:
                    sims = [(c, C.similarity(dig, stored_digests[c])) for c in cands[k] if c in stored_digests and c != pid]
                    sims += [(c, s) for c, s in batch.query(dig, threshold, ks) if c != pid]
                    sims = sorted({c: s for c, s in sims if s >= threshold}.items(), key=lambda x: (-x[1], x[0]))
                    near = [{"id": c, "similarity": round(s, 4)} for c, s in sims[:MAX_NEAR]]
                    cluster = clusters.get(near[0]["id"], near[0]["id"]) if near else pid
                    batch.add(pid, dig, ks)
                clusters[pid] = cluster
                p = problems[i]
                doc = {
                    "id": pid,
                    "text": p["text"],
                    "answer": p.get("answer"),
                    "tests": p.get("tests"),
                    "language": p.get("language"),
                    "task": p.get("task") or ("code" if p.get("tests") is not None else "math"),
                    "source": p.get("source"),
                    "meta": p.get("meta") or {},
                    "hash": hashes[i],
                    "duplicate_of": dup_of,
                    "near_duplicates": near,
                    "cluster_id": cluster,
                    "contamination": C.check_all(bench, p["text"], dig, norms[i]),
                    "created_at": time.time(),
                }
                docs.append(doc)
                digs.append(dig)
                lsh_keys.append(None if dup_of else ks)
            self.store.insert(docs, digs, lsh_keys)
            from .observe import RECORDER

            RECORDER.problems.inc(len(docs))
            by_id = {**existing, **{d["id"]: d for d in docs}}
            created = {d["id"] for d in docs}
            first = {}
            for i, pid in enumerate(ids):
                first.setdefault(pid, i)
            return [
                {**{k: by_id[pid].get(k) for k in _REGISTER_FIELDS}, "created": pid in created and first[pid] == i}
                for i, pid in enumerate(ids)
            ]

    async def register(self, problems: list[dict], threshold: float | None = None) -> list[dict]:
        return await asyncio.to_thread(self._register, problems, threshold or self.threshold)

    # -- lookups -------------------------------------------------------------
    async def get(self, pid: str) -> dict:
        def go():
            docs = self.store.get_docs([pid])
            if pid not in docs:
                raise NotFound(f"no problem {pid!r}", field="problem_id")
            return self._with_stats([docs[pid]])[0]

        return await asyncio.to_thread(go)

    def _with_stats(self, docs: list[dict]) -> list[dict]:
        stats = self.store.stats([d["id"] for d in docs])
        out = []
        for d in docs:
            st = stats.get(d["id"], {})
            pub = _public(d)
            pub["stats"] = _stats_doc(st.get(""))
            pub["stats_by_policy"] = {pol: _stats_doc(v) for pol, v in st.items() if pol}
            out.append(pub)
        return out

    async def list(self, **filters: Any) -> tuple[list[dict], int | None]:
        def go():
            ids, nxt = self.store.list_ids(**filters)
            docs = self.store.get_docs(ids)
            return self._with_stats([docs[i] for i in ids if i in docs]), nxt

        return await asyncio.to_thread(go)

    async def resolve(self, ids: list[str]) -> dict[str, dict]:
        return await asyncio.to_thread(self.store.get_docs, ids)

    async def record(self, updates: list[tuple[str, str | None, str]], token: str | None = None) -> dict[str, dict]:
        """Count verdicts (atomically) and return the all-policy statistics of those problems."""

        def go():
            self.store.record(updates, time.time(), token)
            ids = list(dict.fromkeys(u[0] for u in updates))
            st = self.store.stats(ids)
            return {pid: _stats_doc(st.get(pid, {}).get("")) for pid in ids}

        return await asyncio.to_thread(go)

    async def buckets(self) -> dict[str, Any]:
        """Problems per difficulty bucket (Redis: the 5,000 most recently registered)."""
        return await asyncio.to_thread(self.store.buckets)


def _public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in ("hash",)}


_REGISTER_FIELDS = ("id", "source", "duplicate_of", "near_duplicates", "cluster_id", "contamination")
