"""``verirl filter --engine ray``: the same checks on a Ray cluster, the same result as ``local``.

Ray Data reads the input (jsonl, json, parquet, csv; a ``datasets`` folder is
handed over from the driver), numbers the rows and runs the steps the local
engine runs, on every node:

1. **Sign and check** (``map_batches`` in an actor pool): :func:`verirl.curation.filter.row_work`
   signs each row (:func:`verirl.curation.near_dedup.sign`) and checks it against the
   benchmark index, built once on the driver and broadcast through the object store.
   ``--verify``/``--difficulty`` grade in Ray actors, each with its own verifier pool
   (:func:`verirl.curation.filter.grade_rows`, kill deadlines as everywhere).
2. **Exact groups**: a shuffle by a key of the exact hash; in each group the first
   row (lowest row number) is kept, the others are ``duplicate_of`` it.
3. **Distributed LSH**: the first row of each exact group is exploded into its
   ``BANDS`` band keys; a shuffle by a key of (band, key) brings each bucket to one
   task, which pairs each row with the :data:`~verirl.curation.near_dedup.WINDOW` rows before
   it in the bucket (the local rule, :func:`verirl.curation.near_dedup.candidate_pairs`).
4. **Verify candidates**: two shuffles join each candidate pair with the digests of
   its two rows; :func:`verirl.curation.near_dedup.verify_pairs` keeps the edges.
5. **Components**: the edges, the exact groups and the answer keys (a few bytes a
   row) come back to the driver, where :func:`verirl.curation.near_dedup.clusters` and
   :func:`verirl.curation.filter.finish` (``--keep`` compiled to pyarrow, the output, the
   summary, ``removed.jsonl``, ``report.html``) run exactly as for ``local``.

Each shuffle groups by a *partition* of its key (``PARTITIONS`` values), so a task
gets many whole buckets and works on them with numpy, never one Python call per
bucket. Ray is imported only here, only for ``--engine ray``.

Where: ``--ray-address``, else ``RAY_ADDRESS`` (read by :mod:`verirl.settings`), else a
local Ray started for the run (and stopped after it).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from verirl.curation import primitives as C
from verirl.curation import near_dedup as ND

#: Hash partitions of each shuffle; at least one per CPU of the cluster.
MIN_PARTITIONS = 8
_ROW = "__verirl_row"
_READERS = {".jsonl": "read_json", ".json": "read_json", ".parquet": "read_parquet", ".csv": "read_csv"}


def _connect(address: str | None, num_cpus: int) -> bool:
    """Connect to (or start) Ray; True when this run started it (and stops it)."""
    import logging

    import ray

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # no INFO line per stage on the command's stderr
    if ray.is_initialized():
        return False
    quiet = {"logging_level": "ERROR", "log_to_driver": False, "configure_logging": True}
    # Every node imports verirl itself (install the same version there: README, "On a Ray cluster");
    # the workers are offline for Hugging Face like the driver.
    runtime_env = {"env_vars": {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
                                "HF_DATASETS_OFFLINE": os.environ.get("HF_DATASETS_OFFLINE", "1")}}
    if address:
        ray.init(address=address, runtime_env=runtime_env, **quiet)
        return False
    ray.init(num_cpus=max(1, num_cpus), include_dashboard=False, runtime_env=runtime_env, **quiet)
    return True


def _number_rows(block: Any, first: int) -> Any:
    import pyarrow as pa

    return block.append_column(_ROW, pa.array(np.arange(first, first + block.num_rows, dtype=np.int64)))


def _read(plan: Any) -> Any:
    """The input as a Ray Dataset in row order, with the row numbers in column ``_ROW``.

    Read by Ray's readers on the cluster and materialized; each block is then numbered from the
    row counts of the blocks before it (no zip, no shuffle).
    """
    from pathlib import Path

    import ray

    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    p = Path(plan.input_path)
    reader = _READERS.get(p.suffix) if p.is_file() else None
    if reader is not None:
        ds = getattr(ray.data, reader)(str(p.resolve()))
    else:  # a save_to_disk folder or a cached hub dataset: the driver's Arrow table
        ds = ray.data.from_arrow(plan.ds.data.table)
    number = ray.remote(_number_rows)
    refs, first = [], 0
    for bundle in ds.materialize().iter_internal_ref_bundles():
        for ref, meta in zip(bundle.block_refs, bundle.metadata, strict=True):
            refs.append(number.remote(ref, first))
            first += meta.num_rows
    if first != len(plan.ds):
        raise ValueError(f"{plan.input_path}: Ray read {first} rows, datasets read {len(plan.ds)}")
    return ray.data.from_arrow_refs(refs).materialize()


class _Signer:
    """An actor of step 1: the benchmark index arrives once per actor, from the object store."""

    def __init__(self, bench_ref: Any, cols: dict[str, Any], dedup: bool, decon: bool, partitions: int) -> None:
        import ray

        self.bench = ray.get(bench_ref[0]) if bench_ref else {}
        self.cols, self.dedup, self.decon, self.partitions = cols, dedup, decon, partitions

    def __call__(self, batch: Any) -> dict[str, Any]:
        from verirl.curation.filter import row_work

        cols = self.cols
        texts = [str(t or "") for t in batch[cols["text"]].to_pylist()] if cols["text"] else []
        answers = batch[cols["answer"]].to_pylist() if cols["answer"] else None
        extra = [[str(t or "") for t in batch[c].to_pylist()] for c in cols["decon_extra"]]
        out: dict[str, Any] = {_ROW: batch[_ROW].to_numpy()}
        res = row_work(texts, answers, extra, self.dedup, self.decon, self.bench)
        if self.dedup:
            out["hash"] = np.array(res["hash"], dtype=object)
            out["hpart"] = np.array([int(h[-8:], 16) % self.partitions for h in res["hash"]], dtype=np.int64)
            out["digest"] = np.ascontiguousarray(res["digest"], dtype=np.uint32)
            out["bands"] = np.ascontiguousarray(res["bands"], dtype=np.uint64)
            out["numbers"] = res["numbers"]
            out["answer"] = res["answer"]
        if self.decon:
            out["flags"] = np.array([json.dumps(f) for f in res["flags"]], dtype=object)
        return out


class _Grader:
    """An actor of step 1 for --verify/--difficulty: a verifier pool of its own."""

    def __init__(self, cols: dict[str, Any], opts: Any, pool_size: int) -> None:
        from verirl.curation.filter import _Grader as Pool

        self.cols, self.opts = cols, opts
        self.grader = Pool(pool_size, opts.item_timeout_s)

    def __call__(self, batch: Any) -> dict[str, Any]:
        from verirl.curation.filter import grade_rows

        rows = batch[_ROW].to_numpy()
        names = [c for c in (self.cols["completion"], self.cols["answer"], self.cols["rollouts"]) if c]
        data = {c: batch[c].to_pylist() for c in dict.fromkeys(names)}
        res = grade_rows(data, self.cols, self.opts, self.grader, int(rows[0]) if len(rows) else 0)
        out: dict[str, Any] = {_ROW: rows}
        if "verdicts" in res:
            out["verdict"] = np.array(res["verdicts"], dtype=object)
        if "outcomes" in res:
            out["outcomes"] = np.array([json.dumps(o) for o in res["outcomes"]], dtype=object)
        return out

    def __del__(self) -> None:
        self.grader.close()


# ----------------------------------------------------------------------------- shuffles (numpy in each group)

def _exact_groups(g: dict[str, Any]) -> dict[str, Any]:
    """Rows of whole exact groups: each row and the first row of its group; the firsts keep their signature."""
    rows, hashes = g[_ROW], g["hash"].astype(str)
    order = np.lexsort((rows, hashes))
    rows, hashes = rows[order], hashes[order]
    start = np.ones(len(rows), dtype=bool)
    start[1:] = hashes[1:] != hashes[:-1]
    first = rows[start][np.cumsum(start) - 1]
    return {_ROW: rows, "first": first, "digest": g["digest"][order], "bands": g["bands"][order],
            "numbers": g["numbers"][order]}


def _firsts(g: dict[str, Any]) -> dict[str, Any]:
    keep = g[_ROW] == g["first"]
    return {k: v[keep] for k, v in g.items() if k != "first"}


def _explode(g: dict[str, Any], partitions: int) -> dict[str, Any]:
    """Each first row of an exact group, once per band: (partition, band, key, row)."""
    keys = np.asarray(g["bands"], dtype=np.uint64).reshape(-1, C.BANDS)
    band = np.tile(np.arange(C.BANDS, dtype=np.int64), len(keys))
    key = keys.reshape(-1)
    with np.errstate(over="ignore"):
        part = ((key * np.uint64(0x9E3779B97F4A7C15) + band.astype(np.uint64)) >> np.uint64(40)) % np.uint64(partitions)
    return {"bpart": part.astype(np.int64), "band": band, "key": key, _ROW: np.repeat(g[_ROW], C.BANDS)}


def _bucket_candidates(g: dict[str, Any]) -> dict[str, Any]:
    """Candidate pairs of every bucket in this partition: the local engine's windowed rule."""
    order = np.lexsort((g[_ROW], g["key"], g["band"]))
    band, key, rows = g["band"][order], g["key"][order], g[_ROW][order]
    a, b = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for w in range(1, ND.WINDOW + 1):
        same = (key[w:] == key[:-w]) & (band[w:] == band[:-w])
        if not same.any():
            break
        a.append(rows[:-w][same])
        b.append(rows[w:][same])
    return {"a": np.concatenate(a).astype(np.int64), "b": np.concatenate(b).astype(np.int64)}


def _sig_rows(g: dict[str, Any], partitions: int) -> dict[str, Any]:
    """The digest of each first row, as join rows (kind 0) keyed by its row."""
    n = len(g[_ROW])
    return {"part": g[_ROW] % partitions, "kind": np.zeros(n, np.int8), "at": g[_ROW], "a": np.full(n, -1, np.int64),
            "b": np.full(n, -1, np.int64), "digest": g["digest"], "numbers": g["numbers"],
            "digest_a": np.zeros((n, C.NUM_PERM), np.uint32), "numbers_a": np.zeros(n, np.uint64)}


def _pair_rows(g: dict[str, Any], key: str, partitions: int) -> dict[str, Any]:
    """Candidate pairs as join rows (kind 1) keyed by their row ``key``."""
    n = len(g["a"])
    return {"part": g[key] % partitions, "kind": np.ones(n, np.int8), "at": g[key], "a": g["a"], "b": g["b"],
            "digest": np.zeros((n, C.NUM_PERM), np.uint32), "numbers": np.zeros(n, np.uint64),
            "digest_a": g["digest_a"] if "digest_a" in g else np.zeros((n, C.NUM_PERM), np.uint32),
            "numbers_a": g["numbers_a"] if "numbers_a" in g else np.zeros(n, np.uint64)}


def _lookup(g: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(mask of the pair rows, the signature row of each pair row's ``at``, the signature rows)."""
    sig = g["kind"] == 0
    at = g["at"][sig]
    order = np.argsort(at)
    pr = ~sig
    idx = np.flatnonzero(sig)[order][np.searchsorted(at[order], g["at"][pr])] if pr.any() else np.zeros(0, np.int64)
    return pr, idx, sig


def _join_a(g: dict[str, Any]) -> dict[str, Any]:
    pr, idx, _ = _lookup(g)
    return {"a": g["a"][pr], "b": g["b"][pr], "digest_a": np.asarray(g["digest"])[idx].reshape(-1, C.NUM_PERM),
            "numbers_a": g["numbers"][idx]}


def _verify(g: dict[str, Any], threshold: float, numbers: str) -> dict[str, Any]:
    pr, idx, _ = _lookup(g)
    da = np.asarray(g["digest_a"])[pr].reshape(-1, C.NUM_PERM)
    db = np.asarray(g["digest"])[idx].reshape(-1, C.NUM_PERM)
    ok, sim = ND.verify_pairs(None, da, db, g["numbers_a"][pr], g["numbers"][idx], threshold, numbers)
    return {"a": g["a"][pr][ok], "b": g["b"][pr][ok], "sim": np.asarray(sim, dtype=np.float64)[ok]}


def _edges(firsts: Any, threshold: float, numbers_mode: str, partitions: int) -> tuple[Any, Any]:
    """Steps 3-4 on the cluster: candidate pairs of the band buckets, joined with both digests, verified."""
    buckets = firsts.map_batches(_explode, fn_kwargs={"partitions": partitions}, batch_format="numpy")
    pairs = buckets.groupby("bpart").map_groups(_bucket_candidates, batch_format="numpy")
    sigs = firsts.map_batches(_sig_rows, fn_kwargs={"partitions": partitions}, batch_format="numpy")
    half = sigs.union(pairs.map_batches(_pair_rows, fn_kwargs={"key": "a", "partitions": partitions},
                                        batch_format="numpy")).groupby("part").map_groups(_join_a, batch_format="numpy")
    edges = sigs.union(half.map_batches(_pair_rows, fn_kwargs={"key": "b", "partitions": partitions},
                                        batch_format="numpy")).groupby("part").map_groups(
        _verify, fn_kwargs={"threshold": threshold, "numbers": numbers_mode}, batch_format="numpy")
    got = [(b["a"], b["b"], b["sim"]) for b in edges.iter_batches(batch_format="numpy", batch_size=None) if len(b["a"])]
    if not got:
        return np.zeros((0, 2), np.int64), np.zeros(0)
    pairs_all = np.stack([np.concatenate([x[0] for x in got]), np.concatenate([x[1] for x in got])], axis=1)
    uniq, first = np.unique(pairs_all.astype(np.int64), axis=0, return_index=True)  # a pair of several bands, once
    return uniq, np.concatenate([x[2] for x in got])[first]


def run(plan: Any) -> dict[str, Any]:
    """Per-row results of the whole input for :func:`verirl.curation.filter.finish` (the local engine's shape)."""
    import ray

    from verirl.settings import get_settings

    opts, cols = plan.opts, plan.cols
    address = opts.ray_address or get_settings().ray_address
    started = _connect(address, opts.num_proc)
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        partitions = max(MIN_PARTITIONS, 2 * cpus, len(plan.ds) // 200_000)
        # Our shuffles group by a partition key of `partitions` values: as many hash partitions, not Ray's 200.
        ray.data.DataContext.get_current().default_hash_shuffle_parallelism = partitions
        ds = _read(plan)
        n = len(plan.ds)
        results: dict[str, Any] = {"resumed_rows": 0}
        signed = None
        if opts.dedup or opts.decontaminate:
            bench_ref = [ray.put(C.build_benchmarks(plan.named))] if plan.named else []
            signed = ds.map_batches(
                _Signer, fn_constructor_args=(bench_ref, cols, opts.dedup, bool(opts.decontaminate), partitions),
                batch_format="pyarrow", batch_size=2048, compute=ray.data.ActorPoolStrategy(size=cpus), num_cpus=1,
            ).materialize()
        graded = None
        if opts.verify or opts.difficulty:
            pool = max(1, min(opts.num_proc, cpus))
            graded = ds.map_batches(
                _Grader, fn_constructor_args=(cols, opts, pool), batch_format="pyarrow", batch_size=512,
                compute=ray.data.ActorPoolStrategy(size=max(1, cpus // pool)), num_cpus=0,  # its pool does the work
            ).materialize()
        if signed is not None:
            per_row = ["answer"] if opts.dedup else []
            per_row += ["flags"] if opts.decontaminate else []
            if opts.against:  # dedup against an earlier set on the driver, as local does
                per_row += ["hash", "digest", "bands", "numbers"]
            parts = {c: [] for c in per_row}
            for b in signed.select_columns([_ROW, *per_row]).iter_batches(batch_format="numpy", batch_size=65536):
                for c in per_row:
                    parts[c].append(b[c])
            cat = {c: np.concatenate(v) if v else np.zeros(0) for c, v in parts.items()}
            if opts.dedup:
                results["answers"] = cat["answer"].astype(np.uint64)
                results["numbers"] = None
            if opts.decontaminate:
                results["flags"] = [json.loads(f) for f in cat["flags"]]
            if opts.dedup and opts.against:
                results["hashes"] = [str(h) for h in cat["hash"]]
                results["digest"] = np.asarray(cat["digest"], dtype=np.uint32).reshape(n, C.NUM_PERM)
                results["bands"] = np.asarray(cat["bands"], dtype=np.uint64).reshape(n, C.BANDS)
                results["numbers"] = cat["numbers"].astype(np.uint64)
            elif opts.dedup:
                groups = signed.select_columns([_ROW, "hpart", "hash", "digest", "bands", "numbers"]).groupby(
                    "hpart").map_groups(_exact_groups, batch_format="numpy").materialize()
                dup_of = np.full(n, -1, dtype=np.int64)
                for b in groups.select_columns([_ROW, "first"]).iter_batches(batch_format="numpy", batch_size=65536):
                    d = b[_ROW] != b["first"]
                    dup_of[b[_ROW][d]] = b["first"][d]
                results["dup_of"] = dup_of
                firsts = groups.map_batches(_firsts, batch_format="numpy").materialize()
                results["edges"] = _edges(firsts, opts.threshold, opts.dedup_numbers, partitions)
        if graded is not None:
            got = list(graded.iter_batches(batch_format="numpy", batch_size=65536))
            if opts.verify:
                results["verdicts"] = [str(v) for b in got for v in b["verdict"]]
            if opts.difficulty:
                results["outcomes"] = [json.loads(o) for b in got for o in b["outcomes"]]
        return results
    finally:
        if started:
            ray.shutdown()
