from __future__ import annotations

from fastapi import APIRouter, Request

from verirl.schemas import ErrorResponse, JobAccepted, JobStatus, ScoreRequest, ScoreResponse

from ..deps import DispatcherDep, RunnerDep, SettingsDep, StoreDep
from ..jobs import score_batch, score_endpoint

router = APIRouter(tags=["score"])

_ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 413, 422, 429, 503)}


@router.post("/v1/score", response_model=ScoreResponse, operation_id="score", responses=_ERRORS)
async def score(req: ScoreRequest, request: Request, dispatcher: DispatcherDep, settings: SettingsDep) -> dict:
    """Grade a batch synchronously; results come back in item order."""
    return await score_batch(dispatcher, settings, req, request.app.state.registry,
                             endpoint=score_endpoint(request.headers.get("x-verirl-integration")))


@router.post("/v1/jobs", response_model=JobAccepted, status_code=202, operation_id="create_job", responses=_ERRORS)
async def create_job(req: ScoreRequest, runner: RunnerDep) -> dict:
    """Accept a batch to grade in the background; poll GET /v1/jobs/{job_id}."""
    job_id = await runner.submit(req)
    return {"job_id": job_id, "status": "queued", "items": len(req.items)}


@router.get("/v1/jobs/{job_id}", response_model=JobStatus, operation_id="get_job", responses=_ERRORS | {404: {"model": ErrorResponse}})
async def get_job(job_id: str, store: StoreDep) -> dict:
    from verirl.errors import NotFound

    job = await store.get_job(job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r}", field="job_id")
    if job["status"] == "failed":
        job["error"], job["result"] = job["result"], None
    return job
