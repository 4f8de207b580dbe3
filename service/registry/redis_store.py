"""The problem registry in Redis (distributed mode): shared by every API replica.

Redis layout (all keys under ``verirl:``). A caller's id (problem id, policy,
benchmark name, count token) enters a key only length-prefixed (``<len>:<id>``,
:func:`enc`), and each kind of key has a namespace of its own, so no id can name another
id's key or a bookkeeping key (``x|`` and ``pols:x``, ``hash:<h>``, ``order``, ``seq``,
``version`` are ordinary ids)::

    prob:doc:<enc id>                  hash: doc (JSON), digest (MinHash bytes), seq
    prob:hash:<h128>                   id of the first problem with that normalised text (SET NX)
    prob:order                         zset seq -> id (listing order, cursor = seq)
    prob:seq                           counter
    lsh:<band>:<key>                   set of ids in that LSH bucket (keys are our own hashes)
    pstat:<enc id>:<enc policy>        hash: attempts, correct, timeouts, errors, ewma, last_seen
                                       (policy "" = all policies), updated by one Lua script: atomic
    pstat-pols:<enc id>                set of the policies counted for a problem
    bench:doc:<enc name>               hash: hash, items (JSON), created_at;  benches: set of names
    bench:version                      counter, bumped on every benchmark registration
    counted:<enc token>                an async job's verdicts were counted
    layout                             "2": this layout (an older registry is moved to it at start-up)
"""

from __future__ import annotations

import collections
import json
import time
from typing import Any

from verirl.curation import primitives as C
from verirl.settings import redis_options

from .stats import delta, stats_doc


def enc(part: str) -> str:
    """A caller's id as a key part no other id or key can meet: its length, a colon, the id."""
    return f"{len(part)}:{part}"


def doc_key(pid: str) -> str:
    return f"verirl:prob:doc:{enc(pid)}"


def stat_key(pid: str, policy: str) -> str:
    return f"verirl:pstat:{enc(pid)}:{enc(policy)}"


def pols_key(pid: str) -> str:
    return f"verirl:pstat-pols:{enc(pid)}"


def bench_key(name: str) -> str:
    return f"verirl:bench:doc:{enc(name)}"

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

        self.r = redis.Redis.from_url(url, **redis_options())
        self._record = self.r.register_script(_RECORD_LUA)
        self._insert = self.r.register_script(_INSERT_LUA)
        try:
            self._migrate()
        except redis.RedisError as exc:  # Redis down at start-up: the next start migrates
            import logging

            logging.getLogger("verirl.registry").warning("registry key migration not run: %s", exc)

    def _migrate(self) -> None:
        """Move a registry written before ids were length-prefixed (``prob:<id>``, ``pstat:<id>|<policy>``,
        ``pstat:pols:<id>``, ``bench:<name>``) to this layout, once; RENAMENX, so replicas may race."""
        if self.r.get("verirl:layout") == b"2":
            return
        for raw in self.r.zrange("verirl:prob:order", 0, -1):
            pid = raw.decode()
            old = f"verirl:prob:{pid}"
            if self.r.type(old) == b"hash" and self.r.hexists(old, "doc"):
                self.r.renamenx(old, doc_key(pid))
            pols_old = f"verirl:pstat:pols:{pid}"
            if self.r.type(pols_old) == b"set":
                for pol in [m.decode() for m in self.r.smembers(pols_old)]:
                    if self.r.type(f"verirl:pstat:{pid}|{pol}") == b"hash":
                        self.r.renamenx(f"verirl:pstat:{pid}|{pol}", stat_key(pid, pol))
                self.r.renamenx(pols_old, pols_key(pid))
        for raw in self.r.smembers("verirl:benches"):
            name = raw.decode()
            if self.r.type(f"verirl:bench:{name}") == b"hash":
                self.r.renamenx(f"verirl:bench:{name}", bench_key(name))
        self.r.set("verirl:layout", "2")

    def close(self) -> None:
        self.r.close()

    def _field(self, ids: list[str], name: str) -> list[tuple[str, bytes]]:
        """(id, value) of one hash field of each problem that has it."""
        if not ids:
            return []
        p = self.r.pipeline(transaction=False)
        for pid in ids:
            p.hget(doc_key(pid), name)
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
                keys=[doc_key(doc["id"]), "verirl:prob:order", *(f"verirl:lsh:{kk}" for kk in ks or ())],
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
                p.hmget(doc_key(pid), "doc", "digest")
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
            p.hset(doc_key(pid), "doc", json.dumps(doc))
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
                st = stats_doc(stats.get(pid, {}).get(""))
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
        counts = collections.Counter(stats_doc(stats.get(i, {}).get(""))["bucket"] for i in ids)
        return {"problems": n, "sampled": len(ids), "buckets": dict(counts)}

    def get_benchmark(self, name: str) -> dict | None:
        h = self.r.hmget(bench_key(name), "hash", "items", "created_at")
        if h[0] is None:
            return None
        return {"name": name, "hash": h[0].decode(), "items": json.loads(h[1]), "created_at": float(h[2])}

    def save_benchmark(self, name: str, h: str, items: list[dict]) -> None:
        key = bench_key(name)
        if self.r.hsetnx(key, "hash", h):
            p = self.r.pipeline(transaction=True)
            p.hset(key, mapping={"items": json.dumps(items), "created_at": time.time()})
            p.sadd("verirl:benches", name)
            p.incr("verirl:bench:version")
            p.execute()

    def load_benchmarks(self) -> dict[str, list[dict]]:
        out = {}
        for n in sorted(m.decode() for m in self.r.smembers("verirl:benches")):
            raw = self.r.hget(bench_key(n), "items")
            if raw:
                out[n] = json.loads(raw)
        return out

    def benchmark_version(self) -> int:
        return int(self.r.get("verirl:bench:version") or 0)

    def record(self, updates: list[tuple[str, str | None, str]], now: float, token: str | None = None) -> None:
        if token is not None and not self.r.set(f"verirl:counted:{enc(token)}", 1, nx=True, ex=30 * 86400):
            return  # an async job counts once (at most once: see the README)
        keys: list[str] = []
        args: list[Any] = []
        pols: dict[str, set[str]] = {}
        for pid, policy, verdict in updates:
            a, c, t, e, x = delta(verdict)
            for pol in ("", policy) if policy else ("",):
                pols.setdefault(pid, set()).add(pol)
                keys.append(stat_key(pid, pol))
                args += [a, c, t, e, "" if x is None else x]
        p = self.r.pipeline(transaction=False)
        for pid, ps in pols.items():
            p.sadd(pols_key(pid), *ps)
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
            p.smembers(pols_key(pid))
        keys = [(pid, m.decode()) for pid, ms in zip(ids, p.execute(), strict=True) for m in ms]
        p = self.r.pipeline(transaction=False)
        for pid, pol in keys:
            p.hgetall(stat_key(pid, pol))
        for (pid, pol), h in zip(keys, p.execute(), strict=True):
            out.setdefault(pid, {})[pol] = {k.decode(): v.decode() for k, v in h.items()}
        return out

    def ping(self) -> bool:
        return bool(self.r.ping())
