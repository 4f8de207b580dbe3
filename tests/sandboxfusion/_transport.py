"""The transport of the SandboxFusion outside suite: their request/response models, and a client
that posts to a real verirl server's ``/run_code`` instead of SandboxFusion's in-process app.

The models are SandboxFusion's (``sandbox/server/sandbox_api.py`` RunCodeRequest,
RunCodeResponse, RunStatus; ``sandbox/runners/types.py`` CommandRunStatus, CommandRunResult)
at commit 469de0845cb7d665bc68044d541aa3aa28c5b30a, Apache-2.0; their tests use nothing else.
"""

from __future__ import annotations

from enum import Enum

import httpx
from pydantic import BaseModel, Field

COMMIT = "469de0845cb7d665bc68044d541aa3aa28c5b30a"


class CommandRunStatus(str, Enum):  # noqa: UP042 - as SandboxFusion defines it
    Finished = "Finished"
    Error = "Error"
    TimeLimitExceeded = "TimeLimitExceeded"


class CommandRunResult(BaseModel):
    status: CommandRunStatus
    execution_time: float | None = None
    return_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None


class RunStatus(str, Enum):  # noqa: UP042 - as SandboxFusion defines it
    Success = "Success"
    Failed = "Failed"
    SandboxError = "SandboxError"


class RunCodeRequest(BaseModel):
    compile_timeout: float = 10
    run_timeout: float = 10
    memory_limit_MB: int = -1
    code: str
    stdin: str | None = None
    language: str
    files: dict[str, str | None] = Field(default_factory=dict)
    fetch_files: list[str] = Field(default_factory=list)


class RunCodeResponse(BaseModel):
    status: RunStatus
    message: str
    compile_result: CommandRunResult | None = None
    run_result: CommandRunResult | None = None
    executor_pod_name: str | None = None
    files: dict[str, str] = {}


class _Client:
    """``TestClient(app)``'s ``post``, over HTTP to the server the suite's fixture started."""

    url: str | None = None

    def post(self, path: str, json: dict) -> httpx.Response:
        assert self.url, "the sandboxfusion conftest sets the server URL"
        return httpx.post(self.url + path, json=json, timeout=120)


client = _Client()
