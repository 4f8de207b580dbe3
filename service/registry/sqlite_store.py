"""The problem registry in SQLite (embedded mode): one file under the data dir.

Tables: ``problems`` (doc JSON, MinHash digest, source, cluster, contaminated),
``lsh`` (bucket key -> id), ``stats`` (counters per problem and policy),
``benchmarks`` (frozen sets) and ``counted`` (async jobs already counted).
"""

from __future__ import annotations

import collections
import json
import threading
import time
from pathlib import Path
from typing import Any

from verirl.curation import primitives as C

from ..store import open_sqlite
from .stats import delta


class SQLiteRegistryStore:
    def __init__(self, path: Path) -> None:
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
                    for k in ks or ():  # at most BUCKET_CAP ids per bucket (see verirl.curation.primitives.BUCKET_CAP)
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
                    a, c, t, e, x = delta(verdict)
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
