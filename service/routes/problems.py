"""The problem registry and benchmarks over HTTP."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError

from verirl.batch import field_path
from verirl.errors import InvalidInput
from verirl.schemas import BenchmarkRequest, ErrorResponse, ProblemIn, RegisterRequest

from ..deps import SettingsDep
from ..registry import Registry

router = APIRouter(tags=["curation"])
_ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 404, 413, 422)}


def get_registry(request: Request) -> Registry:
    return request.app.state.registry


RegistryDep = Annotated[Registry, Depends(get_registry)]


@router.post("/v1/problems", operation_id="register_problems", responses=_ERRORS)
async def register_problems(req: RegisterRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Register problems (bulk). Each answer, in request order, has its id and its
    metadata: duplicate_of, near_duplicates, cluster_id, contamination; an invalid
    problem gets ``error`` naming its field and the others are registered."""
    if len(req.problems) > settings.max_problems:
        raise InvalidInput(f"at most {settings.max_problems} problems per call", field="problems")
    valid: list[dict] = []
    slots: list[dict | int] = []
    for i, raw in enumerate(req.problems):
        try:
            if not isinstance(raw, dict):
                raise InvalidInput("each problem must be an object", field=f"problems[{i}]")
            p = ProblemIn.model_validate(raw)
            if p.tests is not None:
                from verirl.code.grader import validate_tests

                try:
                    validate_tests(p.tests, p.language)
                except InvalidInput as exc:
                    raise InvalidInput(exc.message, field=f"problems[{i}].{exc.field or 'tests'}") from None
            slots.append(len(valid))
            valid.append(p.model_dump())
        except ValidationError as exc:
            err = exc.errors()[0]
            slots.append({"index": i, "error": {"code": "invalid_problem", "field": f"problems[{i}].{field_path(err['loc'])}".rstrip("."), "message": err["msg"]}})
        except InvalidInput as exc:
            slots.append({"index": i, "error": {"code": "invalid_problem", "field": exc.field, "message": exc.message}})
    if not valid:
        first = slots[0]["error"]  # type: ignore[index]
        raise InvalidInput(first["message"], field=first["field"])
    done = await registry.register(valid, req.threshold)
    return {"problems": [done[s] if isinstance(s, int) else s for s in slots]}


@router.get("/v1/problems/{problem_id}", operation_id="get_problem", responses=_ERRORS)
async def get_problem(problem_id: str, registry: RegistryDep) -> dict:
    """One problem with its metadata and difficulty statistics (overall and per policy)."""
    return await registry.get(problem_id)


@router.get("/v1/problems", operation_id="list_problems", responses=_ERRORS)
async def list_problems(
    registry: RegistryDep,
    difficulty_min: float | None = Query(None, ge=0, le=1, description="1 - smoothed pass rate, at least."),
    difficulty_max: float | None = Query(None, ge=0, le=1),
    source: str | None = Query(None, max_length=256),
    contaminated: bool | None = None,
    bucket: Literal["unknown", "unsolved", "hard", "medium", "easy", "solved"] | None = None,
    min_attempts: int | None = Query(None, ge=0),
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = Query(None, max_length=32, description="next_cursor of the previous page."),
) -> dict:
    """Problems in registration order, filtered (for curriculum sampling); page with next_cursor."""
    try:
        start = int(cursor) if cursor else 0
    except ValueError:
        raise InvalidInput("cursor must be a next_cursor value", field="cursor") from None
    problems, nxt = await registry.list(
        source=source, contaminated=contaminated, dmin=difficulty_min, dmax=difficulty_max,
        bucket=bucket, min_attempts=min_attempts, limit=limit, cursor=start,
    )
    return {"problems": problems, "next_cursor": str(nxt) if nxt is not None else None}


@router.post("/v1/benchmarks", operation_id="register_benchmark", responses=_ERRORS)
async def register_benchmark(req: BenchmarkRequest, registry: RegistryDep) -> dict:
    """Register (and freeze) a benchmark; every registered problem is re-checked against it."""
    ids = [str(it.id) for it in req.items]
    if len(set(ids)) != len(ids):
        raise InvalidInput("item ids must be unique", field="items")
    return await registry.add_benchmark(req.name, [{"id": i, "text": it.text} for i, it in zip(ids, req.items, strict=True)])


@router.get("/v1/benchmarks", operation_id="list_benchmarks", responses=_ERRORS)
async def list_benchmarks(registry: RegistryDep) -> dict:
    return {"benchmarks": await registry.benchmarks()}
