"""The problem registry's domain: registration (exact and near dedup, contamination),
benchmarks, lookups and difficulty counters, over either store.

The stores (:mod:`.sqlite_store`, :mod:`.redis_store`) expose the same bulk,
synchronous methods; :class:`Registry` runs them in a worker thread and owns
the in-memory benchmark indexes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from verirl.curation import primitives as C
from verirl.errors import InvalidInput, NotFound

from .redis_store import RedisRegistryStore
from .sqlite_store import SQLiteRegistryStore
from .stats import stats_doc

MAX_NEAR = 5


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
            from ..observe import RECORDER

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
            pub["stats"] = stats_doc(st.get(""))
            pub["stats_by_policy"] = {pol: stats_doc(v) for pol, v in st.items() if pol}
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
            return {pid: stats_doc(st.get(pid, {}).get("")) for pid in ids}

        return await asyncio.to_thread(go)

    async def buckets(self) -> dict[str, Any]:
        """Problems per difficulty bucket (Redis: the 5,000 most recently registered)."""
        return await asyncio.to_thread(self.store.buckets)


def _public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in ("hash",)}


_REGISTER_FIELDS = ("id", "source", "duplicate_of", "near_duplicates", "cluster_id", "contamination")
