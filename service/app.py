"""The app factory: ``create_app(settings)`` builds the FastAPI application."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from verirl import __version__
from verirl.settings import Settings, get_settings, redis_options

from . import errors
from .deps import require_api_key
from .dispatch import make_dispatcher
from .hot import HotPathApp
from .jobs import JobRunner
from .middleware import BodyLimitMiddleware, RequestIdMiddleware
from .registry import Registry
from .routes import compat, datasets, health, problems, score, status
from .store import RedisStore, SQLiteStore

log = logging.getLogger("verirl.api")


def _make_store(settings: Settings):
    if settings.redis_url:
        import redis.asyncio as aredis

        return RedisStore(aredis.Redis.from_url(settings.redis_url, **redis_options(asyncio=True)), settings.job_ttl_s)
    return SQLiteStore(settings.data_dir / "verirl.sqlite3")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.dispatcher = make_dispatcher(settings)
        app.state.store = _make_store(settings)
        app.state.registry = Registry.from_settings(settings)
        app.state.runner = JobRunner(app.state.dispatcher, app.state.store, settings, app.state.registry)
        app.state.filter_tasks = set()
        try:
            datasets.cleanup(settings, settings.job_ttl_s)
            if datasets.resume(app):
                log.info("resumed unfinished filter jobs")
        except Exception as exc:
            log.warning("could not resume filter jobs: %s", exc)
        try:
            resumed = await app.state.runner.resume()
            if resumed:
                log.info("resumed %d unfinished async jobs", resumed)
        except Exception as exc:
            log.warning("could not resume open jobs: %s", exc)
        app.state.runner.start_sweeper()
        # What start-up loaded lives as long as the process: out of the collector's sight, so
        # collections during a request walk only what requests allocate.
        gc.collect()
        gc.freeze()
        log.info("verirl %s accepting requests (%s mode)%s", __version__, settings.mode,
                 "; verifier processes starting" if getattr(app.state.dispatcher, "warming", False) else "")
        try:
            yield
        finally:
            for t in list(app.state.filter_tasks):
                t.cancel()
            await app.state.runner.close()
            await app.state.dispatcher.close()
            await app.state.store.close()
            await app.state.registry.close()

    secured = bool(settings.api_key_list)
    app = HotPathApp(
        title="verirl",
        version=__version__,
        description="Verifiable rewards and data curation for RL of reasoning LLMs.",
        lifespan=lifespan,
        # With API keys, the schema and docs are served below behind the key too.
        docs_url=None if secured else "/docs",
        redoc_url=None,
        openapi_url=None if secured else "/openapi.json",
    )
    app.state.settings = settings
    app.state.api_keys = [k.encode() for k in settings.api_key_list]
    app.state.max_body_bytes = int(settings.max_body_mb * 1024 * 1024)
    errors.install(app)
    auth = [Depends(require_api_key)]
    if secured:
        from fastapi.openapi.docs import get_swagger_ui_html

        @app.get("/openapi.json", include_in_schema=False, dependencies=auth)
        async def openapi_schema() -> dict:
            return app.openapi()

        @app.get("/docs", include_in_schema=False, dependencies=auth)
        async def swagger_docs():
            return get_swagger_ui_html(openapi_url="/openapi.json", title="verirl")

    app.include_router(health.router, dependencies=[])
    app.include_router(score.router, dependencies=auth)
    app.include_router(compat.router, dependencies=auth)
    app.include_router(problems.router, dependencies=auth)
    app.include_router(datasets.router, dependencies=auth)
    app.include_router(status.router, dependencies=auth)
    app.add_middleware(BodyLimitMiddleware, max_bytes=app.state.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
