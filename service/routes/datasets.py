"""Batch filtering of uploaded JSONL datasets as async jobs (the HTTP face of ``verirl filter``).

A job's input, status and output live under ``DATA_DIR/filter/<job_id>/``; a job
still open when the API stops is resumed when it starts again (``verirl
filter`` resumes from its checkpointed shards). While it runs, its status shows
``progress``: rows done of the total, updated after every shard.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from verirl.curation import datasets_io  # noqa: F401  (sets the Hugging Face offline variables before `datasets` loads)
from verirl.errors import InvalidInput, NotFound, VerirlError
from verirl.curation.keep_expr import KeepError, parse_keep

from ..deps import SettingsDep
from .problems import RegistryDep

log = logging.getLogger("verirl.curation.filter")
router = APIRouter(tags=["curation"])


class NotReady(VerirlError):
    status_code = 409
    code = "not_ready"


def _root(settings) -> Path:
    return Path(settings.data_dir) / "filter"


def _write_status(d: Path, **status) -> None:
    tmp = d / "status.tmp"
    tmp.write_text(json.dumps(status))
    os.replace(tmp, d / "status.json")


def _read_status(d: Path) -> dict | None:
    try:
        return json.loads((d / "status.json").read_text())
    except (OSError, ValueError):
        return None


def _shard_size(rows: int) -> int:
    """About 20 progress updates per job, in shards of 256 to 5,000 rows."""
    return max(256, min(5000, -(-rows // 20)))


async def _run(d: Path, settings, registry) -> None:
    from verirl.curation.filter import FilterOptions, Interrupted, add_local_benchmark, run_filter

    st = _read_status(d) or {}
    stop = threading.Event()

    def progress(done: int, total: int) -> None:  # in the filter's thread, the only writer while it runs
        _write_status(d, **{**st, "status": "running", "progress": {"rows_done": done, "rows_total": total}})

    try:
        opts = FilterOptions(**st["options"])
        opts.progress = False
        opts.num_proc = max(1, min(opts.num_proc, settings.workers))
        if opts.decontaminate:
            registered = await asyncio.to_thread(registry.store.load_benchmarks)
            missing = [b for b in opts.decontaminate if b not in registered]
            if missing:
                raise ValueError(f"benchmarks not registered on this server: {missing}")
            for name in opts.decontaminate:
                add_local_benchmark(d / "data", name, registered[name])
        _write_status(d, **{**st, "status": "running", "progress": {"rows_done": 0, "rows_total": st.get("rows")}})
        summary = await asyncio.to_thread(
            run_filter, str(d / "input.jsonl"), str(d / "output.jsonl"), opts, d / "data", progress, stop.is_set
        )
        # The job's status names no server path: the output is fetched by its URL.
        summary = {**summary, "input": "input.jsonl", "output": f"/v1/filter/{d.name}/result",
                   "report": f"/v1/filter/{d.name}/report", "removed": f"/v1/filter/{d.name}/removed"}
        rows = summary["rows"]
        _write_status(d, **{**st, "status": "done", "finished_at": time.time(), "summary": summary,
                            "progress": {"rows_done": rows, "rows_total": rows}})
    except asyncio.CancelledError:  # the API is stopping: the filter's thread stops at its next shard
        stop.set()
        raise
    except Interrupted:
        pass  # stopped with the API; still open, resumed when it starts again
    except Exception as exc:
        log.warning("filter job %s failed: %s", d.name, exc)
        message = str(exc).replace(str(d.resolve()), "<job>").replace(str(d), "<job>")
        _write_status(d, **{**st, "status": "failed", "finished_at": time.time(), "error": {"code": "filter_failed", "message": message}})


def start(app, d: Path) -> None:
    task = asyncio.create_task(_run(d, app.state.settings, app.state.registry))
    app.state.filter_tasks.add(task)
    task.add_done_callback(app.state.filter_tasks.discard)


def resume(app) -> int:
    root = _root(app.state.settings)
    n = 0
    if root.exists():
        for d in sorted(root.iterdir()):
            st = _read_status(d)
            if st and st.get("status") in ("queued", "running"):
                start(app, d)
                n += 1
    return n


@router.post("/v1/filter", status_code=202, operation_id="create_filter_job")
async def create_filter_job(
    request: Request,
    settings: SettingsDep,
    registry: RegistryDep,
    dedup: bool = False,
    decontaminate: list[str] = Query(default_factory=list, description="Benchmarks registered with POST /v1/benchmarks."),
    verify: bool = False,
    difficulty: bool = False,
    text_field: str | None = None,
    id_field: str | None = None,
    answer_field: str | None = None,
    completion_field: str | None = None,
    rollouts_field: str = "rollouts",
    threshold: float = Query(0.8, ge=0.5, le=1.0),
    keep: str | None = Query(
        None, max_length=2000,
        description="Filter expression over a row's columns: comparisons, in, is None, and/or/not "
        '(e.g. `verified and not contaminated`). Never evaluated as Python.',
    ),
    drop: bool = False,
) -> dict:
    """Upload a dataset as JSONL (the request body); the job adds verirl filter's columns."""
    if not (dedup or decontaminate or verify or difficulty or keep):
        raise InvalidInput("nothing to do: set dedup, decontaminate, verify, difficulty or keep", field="query")
    if keep is not None:
        try:
            parse_keep(keep)
        except KeepError as exc:
            raise InvalidInput(f"keep: {exc}", field="query.keep") from None
    body = await request.body()
    rows = 0
    for k, line in enumerate(body.splitlines()):
        if not line.strip():
            continue
        try:
            if not isinstance(json.loads(line), dict):
                raise ValueError("not an object")
        except ValueError as exc:
            raise InvalidInput(f"line {k + 1} is not a JSON object: {exc}", field="body") from None
        rows += 1
    if rows == 0:
        raise InvalidInput("the body holds no JSONL rows", field="body")
    job_id = uuid.uuid4().hex
    d = _root(settings) / job_id
    d.mkdir(parents=True)
    (d / "input.jsonl").write_bytes(body)
    options = dict(
        dedup=dedup, threshold=threshold, decontaminate=decontaminate, verify=verify, difficulty=difficulty,
        text_field=text_field, id_field=id_field, answer_field=answer_field, completion_field=completion_field,
        rollouts_field=rollouts_field, keep=keep, drop=drop, num_proc=settings.workers, shard_size=_shard_size(rows),
    )
    _write_status(d, job_id=job_id, status="queued", rows=rows, created_at=time.time(), options=options,
                  progress={"rows_done": 0, "rows_total": rows})
    start(request.app, d)
    return {"job_id": job_id, "status": "queued", "rows": rows}


@router.get("/v1/filter/{job_id}", operation_id="get_filter_job")
async def get_filter_job(job_id: str, settings: SettingsDep) -> dict:
    st = _read_status(_root(settings) / job_id) if job_id.isalnum() else None
    if st is None:
        raise NotFound(f"no filter job {job_id!r}", field="job_id")
    return {k: v for k, v in st.items() if k != "options"}


@router.get("/v1/filter/{job_id}/result", operation_id="get_filter_result", response_class=FileResponse)
async def get_filter_result(job_id: str, settings: SettingsDep):
    d = _root(settings) / job_id
    st = _read_status(d) if job_id.isalnum() else None
    if st is None:
        raise NotFound(f"no filter job {job_id!r}", field="job_id")
    if st["status"] != "done":
        raise NotReady(f"job is {st['status']}", field="job_id")
    return FileResponse(d / "output.jsonl", media_type="application/x-ndjson", filename=f"{job_id}.jsonl")


def _done_job_file(settings, job_id: str, suffix: str) -> Path:
    d = _root(settings) / job_id
    st = _read_status(d) if job_id.isalnum() else None
    if st is None:
        raise NotFound(f"no filter job {job_id!r}", field="job_id")
    if st["status"] != "done":
        raise NotReady(f"job is {st['status']}", field="job_id")
    return d / f"output.jsonl{suffix}"


@router.get("/v1/filter/{job_id}/report", operation_id="get_filter_report", response_class=FileResponse)
async def get_filter_report(job_id: str, settings: SettingsDep):
    """The job's report.html, the page `verirl filter` writes next to its output (self-contained)."""
    return FileResponse(_done_job_file(settings, job_id, ".report.html"), media_type="text/html; charset=utf-8")


@router.get("/v1/filter/{job_id}/removed", operation_id="get_filter_removed", response_class=FileResponse)
async def get_filter_removed(job_id: str, settings: SettingsDep):
    """The job's removed.jsonl: one line (id, row, reason, flags) per dropped row."""
    return FileResponse(_done_job_file(settings, job_id, ".removed.jsonl"), media_type="application/x-ndjson",
                        filename=f"{job_id}.removed.jsonl")


def cleanup(settings, older_than_s: float) -> None:
    root = _root(settings)
    now = time.time()
    for d in root.iterdir() if root.exists() else ():
        st = _read_status(d) or {}
        if st.get("finished_at") and now - st["finished_at"] > older_than_s:
            shutil.rmtree(d, ignore_errors=True)
