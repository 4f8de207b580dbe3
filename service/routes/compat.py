"""Drop-in endpoints with other tools' exact contracts (SandboxFusion's /run_code)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ..deps import DispatcherDep

router = APIRouter(tags=["compat"])


class RunCodeRequest(BaseModel):
    """SandboxFusion's request (sandbox/server/sandbox_api.py), plus memory_limit_MB as verl sends it."""

    model_config = ConfigDict(extra="ignore")
    compile_timeout: float = Field(10, gt=0, le=120)
    run_timeout: float = Field(10, gt=0, le=120)
    code: str = Field(..., max_length=1_000_000)
    stdin: str | None = None
    language: str
    files: dict[str, str | None] = Field(default_factory=dict)
    fetch_files: list[str] = Field(default_factory=list)
    memory_limit_MB: int = -1


@router.post("/run_code", operation_id="run_code")
async def run_code(req: RunCodeRequest, dispatcher: DispatcherDep) -> dict:
    """Run one program; the response is SandboxFusion's RunCodeResponse."""
    item = {"task": "run_code", "request": req.model_dump()}
    budget = req.compile_timeout + req.run_timeout + 30
    [res] = await dispatcher.score([item], time.monotonic() + budget)
    out = res.get("details", {}).get("run_code")
    if out is None:
        msg = res.get("details", {}).get("error", "sandbox failure")
        return {"status": "SandboxError", "message": str(msg), "compile_result": None, "run_result": None, "executor_pod_name": None, "files": {}}
    return out
