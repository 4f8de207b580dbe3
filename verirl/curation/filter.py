"""``verirl filter``: dedup, decontaminate, verify and measure difficulty over a dataset.

The work is done in shards of rows. Each shard's per-row results (hashes,
MinHash digests, contamination flags, verdicts, rollout outcomes) are computed
on all cores and written atomically to ``OUTPUT.work/``; a run that is killed
resumes from the shards already written. Dedup then runs once over all rows in
order (cheap, deterministic), so a resumed run writes exactly the output of an
uninterrupted one.

By default the command only adds metadata columns; ``--drop`` removes the rows
the requested checks flagged, ``--keep EXPR`` keeps the rows where a declarative
filter expression over the row's columns is true (``verirl.curation.keep_expr``: comparisons,
``in``, ``is None``, and/or/not; never Python's ``eval``). A summary is written
next to the output as ``OUTPUT.summary.json``: ``flags`` counts the rows each
check flagged (a row may carry several flags), ``reasons`` counts each dropped
row once, under the first reason it was dropped for (so ``reasons`` adds up to
``dropped``), and ``examples`` shows a few rows per flag.

Interrupts: SIGINT (Ctrl-C) and SIGTERM stop a run at once. The pool's
processes ignore SIGINT (no tracebacks, no respawned workers) and are
terminated; the shards already written stay, and running the same command
again resumes from them (:class:`Interrupted`, exit status 130 or 143).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import pickle
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from verirl.curation import primitives as C
from verirl.curation import datasets_io  # sets the Hugging Face offline variables before `datasets` is imported
from verirl.curation import near_dedup as ND
from verirl.curation.keep_expr import KeepError, parse_keep

TEXT_FIELDS = ("problem", "question", "prompt", "text")
ANSWER_FIELDS = ("answer", "gt", "ground_truth", "solution", "constraints")
COMPLETION_FIELDS = ("completion", "generation", "response", "output")
ADDED = {
    "dedup": ("duplicate_of", "near_duplicate_of", "near_similarity", "cluster_id", "conflicting_answer"),
    "decontaminate": ("contaminated", "contamination"),
    "verify": ("verdict", "verified"),
    "difficulty": ("attempts", "pass_rate", "smoothed_pass_rate", "wilson_low", "wilson_high", "difficulty_bucket"),
}
#: The fields of one contamination flag (``verirl.curation.primitives.Benchmark.check``); absent ones are null.
FLAG_FIELDS = {"benchmark": "string", "item": "string", "rule": "string", "shared_ngrams": "int64",
               "ngram": "string", "similarity": "float64"}
_COLUMN_TYPES = {
    "duplicate_of": "string", "near_duplicate_of": "string", "near_similarity": "float64", "cluster_id": "string",
    "conflicting_answer": "bool", "contaminated": "bool", "verdict": "string", "verified": "bool", "attempts": "int64", "pass_rate": "float64",
    "smoothed_pass_rate": "float64", "wilson_low": "float64", "wilson_high": "float64", "difficulty_bucket": "string",
}


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a run; the shards written so far are kept for a resume."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """In the main thread, SIGINT and SIGTERM raise :class:`Interrupted` (elsewhere: nothing to install)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: Any) -> None:
        for sig in old:  # once: a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(signum)

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _child_pids() -> list[int]:
    me = str(os.getpid())
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def reap_children(timeout: float = 10.0) -> None:
    """Stop and wait for every child of this process before it exits with ``os._exit``.

    multiprocessing's exit hook joins the pools' processes; its resource tracker (a child that
    lives until its parent is gone) is stopped and waited for; any other child gets SIGTERM, then
    SIGKILL at the deadline, and is reaped. Returns when no child is left running.
    """
    import multiprocessing.resource_tracker
    import multiprocessing.util

    multiprocessing.util._exit_function()  # what exit does for multiprocessing: release semaphores, join
    with contextlib.suppress(Exception):
        multiprocessing.resource_tracker._resource_tracker._stop()
    deadline = time.monotonic() + timeout
    sig = signal.SIGTERM
    while True:
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        live = _child_pids()
        if not live:
            return
        if time.monotonic() > deadline:
            sig = signal.SIGKILL
        for pid in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(0.05)


def _feature(name: str) -> Any:
    from datasets import Value

    if name == "contamination":
        return [{k: Value(t) for k, t in FLAG_FIELDS.items()}]
    return Value(_COLUMN_TYPES[name])


@dataclass
class FilterOptions:
    dedup: bool = False
    threshold: float = C.DEFAULT_THRESHOLD
    decontaminate: list[str] = field(default_factory=list)
    bench_field: str | None = None
    verify: bool = False
    difficulty: bool = False
    text_field: str | None = None
    id_field: str | None = None
    answer_field: str | None = None
    completion_field: str | None = None
    rollouts_field: str = "rollouts"
    decontaminate_fields: list[str] = field(default_factory=list)
    dedup_numbers: str = "different"
    against: str | None = None
    engine: str = "local"
    ray_address: str | None = None
    keep: str | None = None
    drop: bool = False
    num_proc: int = field(default_factory=lambda: os.cpu_count() or 1)
    shard_size: int = 5000
    item_timeout_s: float = 10.0
    progress: bool = True


# --------------------------------------------------------------------------- benchmarks on disk

def bench_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "benchmarks"


def add_local_benchmark(data_dir: Path, name: str, items: list[dict]) -> dict[str, Any]:
    """Freeze a benchmark under DATA_DIR/benchmarks/NAME.json; same name, other content: refused."""
    d = bench_dir(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.json"
    h = C.content_hash(items)
    if path.exists():
        old = json.loads(path.read_text())
        if old["hash"] != h:
            raise ValueError(f"benchmark {name!r} is frozen with {old['hash']}; use a new name for changed content")
        return {"name": name, "hash": h, "items": len(items), "created": False, "path": str(path)}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"name": name, "hash": h, "items": items}, ensure_ascii=False))
    os.replace(tmp, path)
    return {"name": name, "hash": h, "items": len(items), "created": True, "path": str(path)}


def resolve_benchmarks(specs: list[str], data_dir: Path, field_name: str | None) -> dict[str, list[dict]]:
    """NAME (frozen under DATA_DIR/benchmarks) or a file path (its stem is the name)."""
    out: dict[str, list[dict]] = {}
    for spec in specs:
        frozen = bench_dir(data_dir) / f"{spec}.json"
        if frozen.exists():
            out[spec] = json.loads(frozen.read_text())["items"]
        elif Path(spec).exists():
            out[Path(spec).stem] = C.load_items(spec, field_name)
        else:
            raise ValueError(
                f"benchmark {spec!r}: not a file, and not registered in the benchmark store "
                f"{bench_dir(data_dir).resolve()} (VERIRL_DATA_DIR/benchmarks; `verirl benchmarks list` shows it): "
                f"register it with `verirl benchmarks add {spec} FILE`, or give the file's path"
            )
    return out


# --------------------------------------------------------------------------- per-shard work

_BENCH: dict[str, C.Benchmark] = {}


def _init_worker(named: dict[str, list[dict]]) -> None:
    global _BENCH
    _BENCH = C.build_benchmarks(named) if named else {}


def _init_pool_process(named: dict[str, list[dict]]) -> None:
    # Ctrl-C reaches the whole process group: the parent alone handles it (and terminates us).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(named)


def row_work(texts: list[str], answers: list[Any] | None, extra: list[list[str]], dedup: bool, decon: bool,
             bench: dict[str, C.Benchmark]) -> dict[str, Any]:
    """The text checks of a batch of rows, the same in every engine: signatures for dedup
    (:func:`verirl.curation.near_dedup.sign`) and contamination flags of the text (and ``extra`` columns)."""
    out: dict[str, Any] = {}
    sig = ND.sign(texts, answers) if (dedup or decon) else None
    if dedup and sig is not None:
        out.update(sig)
    if decon and sig is not None:
        flags = [C.check_all(bench, t, sig["digest"][i]) for i, t in enumerate(texts)]
        for col in extra:  # more text columns: flags of each, the dedup column's first
            for i, t in enumerate(col):
                seen = {(f["benchmark"], f["item"], f["rule"]) for f in flags[i]}
                flags[i] += [f for f in C.check_all(bench, str(t or "")) if (f["benchmark"], f["item"], f["rule"]) not in seen]
        out["flags"] = flags
    return out


def _text_work(args: tuple[list[str], list[Any] | None, list[list[str]], bool, bool]) -> dict[str, Any]:
    texts, answers, extra, dedup, decon = args
    return row_work(texts, answers, extra, dedup, decon, _BENCH)


def _pick(cols: list[str], given: str | None, candidates: tuple[str, ...], what: str, needed: bool,
          flag: str) -> str | None:
    if given:
        if given not in cols:
            raise ValueError(f"no column {given!r} ({what}); name the {what} column with {flag}; columns: {cols}")
        return given
    found = next((c for c in candidates if c in cols), None)
    if found is None and needed:
        raise ValueError(f"no {what} column (tried {list(candidates)}): name it with {flag}; columns: {cols}")
    return found


#: Output extensions ``datasets_io.save`` writes; a name without one is a ``save_to_disk`` folder.
OUT_EXTENSIONS = (".jsonl", ".json", ".parquet", ".csv")


def check_out_path(out_path: str) -> None:
    """Refuse an output name whose extension names no format we write (``o.txt`` is not silently a folder)."""
    suffix = Path(out_path).suffix
    if suffix and suffix not in OUT_EXTENSIONS and not Path(out_path).is_dir():
        raise ValueError(
            f"--out {out_path}: unknown extension {suffix!r}; use {', '.join(OUT_EXTENSIONS)}, "
            "or a name without an extension for a datasets folder (save_to_disk)"
        )


def _list_hint(column: str, row: int) -> str:
    return (f"column {column!r} holds a list of completions (row {row}), but --verify grades one completion per row: "
            f"for several rollouts per problem use --difficulty --rollouts-field {column} (pass-rate statistics), "
            "or give one completion per row")


def _refuse_list_completions(ds: Any, column: str | None) -> None:
    """--verify on a list column would grade the list's Python text: refuse it before any work."""
    if column is None:
        return
    feat = ds.features.get(column)
    if type(feat).__name__ in ("List", "LargeList", "Sequence") or isinstance(feat, list):
        raise ValueError(_list_hint(column, 0))
    for i, v in enumerate(ds.select(range(min(len(ds), 20)))[column]):  # a CSV's JSON-encoded list
        if isinstance(v, str) and v.lstrip().startswith("["):
            try:
                parsed = json.loads(v)
            except ValueError:
                continue
            if isinstance(parsed, list) and parsed and all(isinstance(x, str) for x in parsed):
                raise ValueError(_list_hint(column, i))


def _verify_item(completion: Any, answer: Any) -> dict[str, Any]:
    """Math by default; an instruction-following ground truth (IFEval constraints, open-instruct's) is graded as one."""
    from verirl.instruction.grader import looks_like_label

    text = str(completion)[:200_000]
    if looks_like_label(answer):
        return {"task": "instruction", "completion": text, "constraints": answer, "options": {}}
    return {"task": "math", "completion": text, "answer": str(answer)[:2000], "options": {}}


class _Grader:
    """Math grading through a VerifierPool: kill deadlines, never a hang."""

    def __init__(self, size: int, timeout_s: float) -> None:
        from verirl.pool import VerifierPool

        self.pool = VerifierPool(max(1, size))
        self.timeout_s = timeout_s

    def verdicts(self, pairs: list[tuple[Any, Any]]) -> list[str]:
        items, idx, out = [], [], ["error"] * len(pairs)
        for i, (completion, answer) in enumerate(pairs):
            if completion is None or answer is None:
                continue
            items.append(_verify_item(completion, answer))
            idx.append(i)
        for i, r in zip(idx, self.pool.map(items, [self.timeout_s] * len(items)), strict=True):
            out[i] = r["verdict"]
        return out

    def close(self) -> None:
        self.pool.close()


def _shard(rows: dict[str, list], cols: dict[str, Any], opts: FilterOptions, procs: Any, grader: _Grader | None,
           first_row: int = 0) -> dict[str, Any]:
    import numpy as np

    texts = [str(t or "") for t in rows[cols["text"]]] if cols["text"] else []
    res: dict[str, Any] = {"n": len(next(iter(rows.values())))}
    if opts.dedup or opts.decontaminate:
        answers = rows[cols["answer"]] if cols["answer"] else None
        extra = [[str(t or "") for t in rows[c]] for c in cols["decon_extra"]]
        k = max(1, min(opts.num_proc, math.ceil(len(texts) / 256)))
        step = math.ceil(len(texts) / k)
        parts = [(texts[i : i + step], answers[i : i + step] if answers is not None else None,
                  [e[i : i + step] for e in extra], opts.dedup, bool(opts.decontaminate))
                 for i in range(0, len(texts), step)]
        outs = procs.map(_text_work, parts) if procs is not None else [_text_work(p) for p in parts]
        if opts.dedup:
            res["hashes"] = [h for o in outs for h in o["hash"]]
            res["digest"] = np.concatenate([o["digest"] for o in outs])
            res["bands"] = np.concatenate([o["bands"] for o in outs])
            res["numbers"] = np.concatenate([o["numbers"] for o in outs])
            res["answers"] = np.concatenate([o["answer"] for o in outs])
        if opts.decontaminate:
            res["flags"] = [f for o in outs for f in o["flags"]]
    res.update(grade_rows(rows, cols, opts, grader, first_row))
    return res


def grade_rows(rows: dict[str, list], cols: dict[str, Any], opts: FilterOptions, grader: _Grader | None,
               first_row: int) -> dict[str, Any]:
    """--verify and --difficulty of a batch of rows through a verifier pool (every engine)."""
    res: dict[str, Any] = {}
    if opts.verify and grader is not None:
        for i, c in enumerate(rows[cols["completion"]]):
            if isinstance(c, list | tuple):
                raise ValueError(_list_hint(cols["completion"], first_row + i))
        res["verdicts"] = grader.verdicts(list(zip(rows[cols["completion"]], rows[cols["answer"]], strict=True)))
    if opts.difficulty:
        outcomes: list[list[bool] | None] = []
        to_grade: list[tuple[int, Any, Any]] = []
        for i, raw in enumerate(rows[cols["rollouts"]]):
            value = datasets_io.json_list(raw, f"column {cols['rollouts']!r}, row {first_row + i}")
            o = C.rollout_outcomes(value)
            if o is None and isinstance(value, list) and all(isinstance(v, str) for v in value) and grader is not None:
                ans = rows[cols["answer"]][i] if cols.get("answer") else None
                to_grade += [(i, v, ans) for v in value]
                outcomes.append([])
            elif o is None and value:
                raise ValueError(
                    f"column {cols['rollouts']!r}, row {first_row + i}: rollouts must be completions, "
                    f"bools, 0/1 rewards or verdicts; got {str(value)[:80]}"
                )
            else:
                outcomes.append(o)
        if to_grade:
            vs = grader.verdicts([(c, a) for _, c, a in to_grade])
            for (i, _, _), v in zip(to_grade, vs, strict=True):
                if v in ("correct", "incorrect", "no_answer"):
                    outcomes[i].append(v == "correct")  # type: ignore[union-attr]
        res["outcomes"] = outcomes
    return res


# --------------------------------------------------------------------------- the run

def _fingerprint(ds: Any, opts: FilterOptions, input_path: str) -> str:
    o = asdict(opts)
    for k in ("num_proc", "progress", "keep", "drop", "engine", "ray_address"):  # do not change per-row results
        o.pop(k)
    raw = json.dumps({"input": getattr(ds, "_fingerprint", None) or input_path, "rows": len(ds), "opts": o}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _step_fingerprint(plan: Plan, step: str) -> str:
    """A fingerprint for a step of :func:`finish` (the input's, the options and the step; never the values)."""
    raw = json.dumps([getattr(plan.ds, "_fingerprint", None) or plan.input_path, plan.out_path, asdict(plan.opts), step],
                     sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _atomic_pickle(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


Progress = Callable[[int, int], None]


def run_filter(
    input_path: str,
    out_path: str,
    opts: FilterOptions,
    data_dir: Path | None = None,
    on_progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Run the checks over a dataset; ``on_progress(rows_done, rows_total)`` after each shard.

    SIGINT/SIGTERM (in the main thread) or ``should_stop()`` turning true (checked
    between shards) raise :class:`Interrupted` with the shards so far kept.
    """
    with _stop_on_signals():
        return _run(input_path, out_path, opts, data_dir, on_progress, should_stop)


@dataclass
class Plan:
    """A checked run: the dataset, the columns each check reads, the benchmarks, the keep expression."""

    input_path: str
    out_path: str
    opts: FilterOptions
    ds: Any
    cols: dict[str, Any]
    named: dict[str, list[dict]]
    keep_expr: Any
    t0: float


def _plan(input_path: str, out_path: str, opts: FilterOptions, data_dir: Path | None) -> Plan:
    from verirl.curation.datasets_io import load

    t0 = time.perf_counter()
    check_out_path(out_path)
    if opts.engine not in ("local", "ray"):
        raise ValueError(f"--engine {opts.engine!r}: use local or ray")
    if opts.dedup_numbers not in ("same", "different"):
        raise ValueError(f"--dedup-numbers {opts.dedup_numbers!r}: use same or different")
    keep_expr = parse_keep(opts.keep) if opts.keep else None  # refused before any work is done
    if not (opts.dedup or opts.decontaminate or opts.verify or opts.difficulty or opts.keep):
        raise ValueError("nothing to do: give --dedup, --decontaminate, --verify, --difficulty or --keep")
    if opts.against and not opts.dedup:
        raise ValueError("--against dedups against an earlier output: give --dedup too")
    ds = load(input_path)
    colnames = list(ds.column_names)
    cols = {
        "text": _pick(colnames, opts.text_field, TEXT_FIELDS, "problem text", opts.dedup or bool(opts.decontaminate),
                      "--text-field"),
        "id": _pick(colnames, opts.id_field, ("id",), "id", False, "--id-field"),
        "answer": _pick(colnames, opts.answer_field, ANSWER_FIELDS, "answer", opts.verify, "--answer-field"),
        "completion": _pick(colnames, opts.completion_field, COMPLETION_FIELDS, "completion", opts.verify,
                            "--completion-field"),
        "rollouts": _pick(colnames, opts.rollouts_field, (), "rollouts", True, "--rollouts-field")
        if opts.difficulty else None,
        "decon_extra": [],
    }
    for c in opts.decontaminate_fields:
        _pick(colnames, c, (), "text to decontaminate", True, "--decontaminate-fields")
        if c != cols["text"]:
            cols["decon_extra"].append(c)
    if opts.verify:
        _refuse_list_completions(ds, cols["completion"])
    wanted = [k for k in ADDED if (k == "decontaminate" and opts.decontaminate) or (k != "decontaminate" and getattr(opts, k))]
    clash = sorted({c for k in wanted for c in ADDED[k]} & set(colnames))
    if clash:
        raise ValueError(f"the dataset already has columns {clash} that verirl filter adds; rename them first")
    if keep_expr is not None:  # refused before the work, not after it
        unknown = sorted(keep_expr.columns - set(colnames) - {c for k in wanted for c in ADDED[k]})
        if unknown:
            raise KeepError(f"--keep names columns the dataset does not have: {unknown}{_added_hint(unknown)}; "
                            f"columns: {colnames}")
    named = resolve_benchmarks(opts.decontaminate, data_dir or Path("./data"), opts.bench_field) if opts.decontaminate else {}
    return Plan(str(input_path), str(out_path), opts, ds, cols, named, keep_expr, t0)


def _run(input_path: str, out_path: str, opts: FilterOptions, data_dir: Path | None,
         on_progress: Progress | None, should_stop: Callable[[], bool] | None) -> dict[str, Any]:
    plan = _plan(input_path, out_path, opts, data_dir)
    work: Path | None = None
    if opts.engine == "ray":
        try:
            from verirl.curation import filter_ray
        except ImportError as exc:
            raise ValueError(f"--engine ray needs Ray: pip install 'verirl[ray]' ({exc})") from None
        results = filter_ray.run(plan)
        if on_progress is not None:
            on_progress(len(plan.ds), len(plan.ds))
    else:
        results, work = _run_local(plan, on_progress, should_stop)
    summary = finish(plan, results)
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)
    return summary


def _run_local(plan: Plan, on_progress: Progress | None, should_stop: Callable[[], bool] | None) -> tuple[dict, Path]:
    """Checkpointed shards on all cores; digests and band keys spilled to memory-mapped files."""
    import numpy as np

    ds, opts, cols = plan.ds, plan.opts, plan.cols
    work = Path(plan.out_path + ".work")
    fp = _fingerprint(ds, opts, plan.input_path)
    manifest = work / "manifest.json"
    if work.exists() and (not manifest.exists() or json.loads(manifest.read_text()).get("fingerprint") != fp):
        shutil.rmtree(work)  # another input or other options: start over
    work.mkdir(parents=True, exist_ok=True)
    if not manifest.exists():
        manifest.write_text(json.dumps({"fingerprint": fp, "input": plan.input_path, "rows": len(ds)}))

    n = len(ds)
    spill = {}
    if opts.dedup:
        for name, width, dtype in (("digest", C.NUM_PERM, np.uint32), ("bands", C.BANDS, np.uint64)):
            f = work / f"{name}.npy"
            spill[name] = np.lib.format.open_memmap(f, mode="r+" if f.exists() else "w+", dtype=dtype, shape=(n, width))
    n_shards = max(1, math.ceil(n / opts.shard_size))
    done = {k for k in range(n_shards) if (work / f"shard-{k:06d}.pkl").exists()}
    resumed_rows = sum(min(opts.shard_size, n - k * opts.shard_size) for k in done)
    rows_done = resumed_rows
    bar = _progress(n, rows_done, opts.progress)
    if on_progress is not None:
        on_progress(rows_done, n)
    needs_text = bool(opts.dedup or opts.decontaminate)
    procs = None
    grader = None
    interrupted = False
    try:
        if needs_text and opts.num_proc > 1 and len(done) < n_shards:
            procs = multiprocessing.get_context("spawn").Pool(
                opts.num_proc, initializer=_init_pool_process, initargs=(plan.named,)
            )
        else:
            _init_worker(plan.named)
        if (opts.verify or opts.difficulty) and len(done) < n_shards:
            grader = _Grader(opts.num_proc, opts.item_timeout_s)
        for k in range(n_shards):
            if k in done:
                continue
            if should_stop is not None and should_stop():
                raise Interrupted(signal.SIGTERM)
            lo = k * opts.shard_size
            res = _shard(ds[lo : lo + opts.shard_size], cols, opts, procs, grader, lo)
            for name, mm in spill.items():  # on disk before the shard counts as done
                mm[lo : lo + res["n"]] = res.pop(name)
                mm.flush()
            _atomic_pickle(res, work / f"shard-{k:06d}.pkl")
            bar.update(res["n"])
            rows_done += res["n"]
            if on_progress is not None:
                on_progress(rows_done, n)
    except BaseException:
        interrupted = True
        raise
    finally:
        bar.close()
        if procs is not None:
            if interrupted:
                procs.terminate()  # no new tasks, no respawned workers: stop them now
            else:
                procs.close()
            procs.join()
            procs = None  # its semaphores are released now, not when a traceback lets go of this frame
        if grader is not None:
            grader.close()

    # Safe: these shard files were written by _atomic_pickle above (or by an earlier run of this
    # command) in the caller's own OUTPUT.work folder; no caller or model data is unpickled as code.
    shards = [pickle.loads((work / f"shard-{k:06d}.pkl").read_bytes()) for k in range(n_shards)]
    results: dict[str, Any] = {"resumed_rows": resumed_rows}
    if opts.dedup:
        results["hashes"] = [h for s in shards for h in s["hashes"]]
        results["numbers"] = np.concatenate([s["numbers"] for s in shards])
        results["answers"] = np.concatenate([s["answers"] for s in shards])
        results["digest"] = np.load(work / "digest.npy", mmap_mode="r")
        results["bands"] = np.load(work / "bands.npy", mmap_mode="r")
    for key in ("flags", "verdicts", "outcomes"):
        if key in shards[0]:
            results[key] = [x for s in shards for x in s[key]]
    return results, work


def _against(plan: Plan) -> dict[str, Any]:
    """Signatures of an earlier output's rows (``--against``): they come before the new rows."""
    from verirl.curation.datasets_io import load

    old = load(plan.opts.against)
    col = plan.cols["text"] if plan.cols["text"] in old.column_names else _pick(
        list(old.column_names), None, TEXT_FIELDS, f"problem text of --against {plan.opts.against}", True, "--text-field")
    ans = plan.cols["answer"] if plan.cols["answer"] in old.column_names else None
    idc = plan.cols["id"] if plan.cols["id"] in old.column_names else None
    texts = [str(t or "") for t in old[col]]
    sig = ND.sign(texts, old[ans] if ans else None)
    sig["ids"] = [str(x) for x in old[idc]] if idc else [f"{plan.opts.against}#{i}" for i in range(len(old))]
    return sig


def dedup_columns(plan: Plan, results: dict[str, Any], ids: list[str]) -> tuple[dict[str, list], dict[str, Any]]:
    """The dedup columns from the signatures (and the Ray engine's edges, when it computed them)."""
    import numpy as np

    n = len(ids)
    hashes, numbers, answers = results.get("hashes"), results.get("numbers"), results["answers"]
    dup_of = results.get("dup_of")  # the Ray engine's exact groups (it sends no hashes to the driver)
    all_ids = ids
    m = 0
    edges = results.get("edges")
    if plan.opts.against:
        old = _against(plan)
        m = len(old["ids"])
        all_ids = old["ids"] + ids
        hashes = old["hash"] + list(hashes)
        numbers = np.concatenate([old["numbers"], numbers])
        answers = np.concatenate([old["answer"], answers])
        digest = np.concatenate([old["digest"], results["digest"]])
        bands = np.concatenate([old["bands"], results["bands"]])
        edges = None
    else:
        digest, bands = results.get("digest"), results.get("bands")
    total = m + n
    if edges is None:
        first: dict[str, int] = {}
        reps = [i for i, h in enumerate(hashes) if first.setdefault(h, i) == i]
        edges = ND.local_edges(digest, bands, numbers, reps, plan.opts.threshold, plan.opts.dedup_numbers)
    cl = ND.clusters(total, hashes if dup_of is None else dup_of, answers, *edges)
    rows = np.arange(m, total)
    dup, near = cl["dup_of"][rows], cl["near_of"][rows]
    cols = {
        "duplicate_of": [all_ids[j] if j >= 0 else None for j in dup],
        "near_duplicate_of": [all_ids[j] if j >= 0 else None for j in near],
        "near_similarity": [float(cl["near_sim"][m + i]) if near[i] >= 0 else None for i in range(n)],
        "cluster_id": [all_ids[j] for j in cl["root"][rows]],
        "conflicting_answer": [bool(x) for x in cl["conflict"][rows]],
    }
    info = {"against_rows": m, "seen_before": int(np.count_nonzero((np.maximum(dup, near) >= 0) & (cl["root"][rows] < m)))}
    return cols, info


def finish(plan: Plan, results: dict[str, Any]) -> dict[str, Any]:
    """From the per-row results of any engine: the added columns, the kept rows, the output, the
    summary, ``removed.jsonl`` and ``report.html``. Deterministic: the same results, the same files."""
    from verirl.curation import report as curation_report
    from verirl.curation.datasets_io import save

    ds, opts, cols, n = plan.ds, plan.opts, plan.cols, len(plan.ds)
    ids = [str(x) for x in ds[cols["id"]]] if cols["id"] else [str(i) for i in range(n)]
    texts = ds[cols["text"]] if cols["text"] else None
    new: dict[str, list] = {}
    row_flags: list[list[str]] = [[] for _ in range(n)]  # each row's flags, in check order
    flag_counts: Counter[str] = Counter()
    examples: dict[str, list[dict]] = {}

    def note(flag: str, i: int, **extra: Any) -> None:
        row_flags[i].append(flag)
        flag_counts[flag] += 1
        ex = examples.setdefault(flag, [])
        if len(ex) < 3:
            ex.append({"row": i, "id": ids[i], "text": (str(texts[i])[:160] if texts is not None else None), **extra})

    dedup_info: dict[str, Any] = {}
    if opts.dedup:
        dcols, dedup_info = dedup_columns(plan, results, ids)
        new.update(dcols)
        for i in range(n):
            if dcols["duplicate_of"][i] is not None:
                note("duplicate", i, of=dcols["duplicate_of"][i])
            elif dcols["near_duplicate_of"][i] is not None:
                note("near_duplicate", i, of=dcols["near_duplicate_of"][i], similarity=dcols["near_similarity"][i])
            if dcols["conflicting_answer"][i]:
                note("conflicting_answer", i, of=dcols["duplicate_of"][i])
    by_bench: Counter[str] = Counter()
    if opts.decontaminate:
        flags = results["flags"]
        new["contaminated"] = [bool(f) for f in flags]
        new["contamination"] = [[{k: x.get(k) for k in FLAG_FIELDS} for x in f] for f in flags]
        for i, f in enumerate(flags):
            if f:
                note("contaminated", i, benchmark=f[0]["benchmark"], item=f[0]["item"], rule=f[0]["rule"])
                by_bench.update({x["benchmark"] for x in f})
    if opts.verify:
        verdicts = results["verdicts"]
        new["verdict"] = verdicts
        new["verified"] = [v == "correct" for v in verdicts]
        for i, v in enumerate(verdicts):
            if v != "correct":
                note(f"not_verified:{v}", i)
    if opts.difficulty:
        stats = [C.difficulty(len(o or []), sum(o or [])) for o in results["outcomes"]]
        new["attempts"] = [d["attempts"] for d in stats]
        for k in ("pass_rate", "smoothed_pass_rate", "wilson_low", "wilson_high"):
            new[k] = [d[k] for d in stats]
        new["difficulty_bucket"] = [d["bucket"] for d in stats]

    for name, values in new.items():
        # Our own fingerprint: else `datasets` hashes every value of the column with dill (10% of a run's CPU).
        ds = ds.add_column(name, values, feature=_feature(name), new_fingerprint=_step_fingerprint(plan, name))
    # Each dropped row counts once, under the first reason: a flag of the checks (--drop), else --keep.
    reasons: Counter[str] = Counter()
    why: list[str | None] = [None] * n
    if opts.drop:
        for i in range(n):
            if row_flags[i]:
                why[i] = row_flags[i][0]
    if plan.keep_expr is not None:
        from verirl.curation.keep_expr import keep_mask

        mask = keep_mask(plan.keep_expr, ds)
        for i in range(n):
            if why[i] is None and not mask[i]:
                why[i] = "keep"
                ex = examples.setdefault("keep", [])
                if len(ex) < 3:
                    ex.append({"row": i, "id": ids[i], "text": (str(texts[i])[:160] if texts is not None else None)})
    kept = [i for i in range(n) if why[i] is None]
    reasons.update(w for w in why if w is not None)
    if len(kept) < n:
        ds = ds.select(kept, new_fingerprint=_step_fingerprint(plan, f"kept:{len(kept)}"))
    save(ds, plan.out_path)
    summary = {
        "input": plan.input_path,
        "output": plan.out_path,
        "rows": n,
        "kept": len(kept),
        "dropped": n - len(kept),
        "reasons": dict(sorted(reasons.items())),
        "flags": dict(sorted(flag_counts.items())),
        "examples": examples,
        "seconds": round(time.perf_counter() - plan.t0, 3),
        "resumed_rows": results.get("resumed_rows", 0),
        "engine": opts.engine,
        "options": {k: v for k, v in asdict(opts).items() if k != "progress"},
    }
    if opts.dedup:
        summary["dedup"] = dedup_info
    if opts.decontaminate:
        summary["contaminated_by_benchmark"] = dict(sorted(by_bench.items()))
    if opts.verify:
        summary["verdicts"] = dict(Counter(new["verdict"]))
    if opts.difficulty:
        summary["buckets"] = dict(Counter(new["difficulty_bucket"]))
    Path(plan.out_path + ".summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    curation_report.write_removed(plan.out_path, ids, why, row_flags)
    curation_report.write_report(plan.out_path, summary, ids, texts, new, row_flags)
    return summary


_CHECK_FLAGS = {"dedup": "--dedup", "decontaminate": "--decontaminate BENCH", "verify": "--verify",
                "difficulty": "--difficulty"}


def _added_hint(unknown: list[str]) -> str:
    """`` (pass_rate is added by --difficulty)`` for columns a check adds when it runs."""
    hints = [f"{c} is added by {_CHECK_FLAGS[k]}" for c in unknown for k, added in ADDED.items() if c in added]
    return f" ({'; '.join(hints)})" if hints else ""


def _progress(total: int, initial: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="rows", desc="verirl filter", disable=not enabled, mininterval=0.5)
