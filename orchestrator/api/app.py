"""The FastAPI application factory.

``create_app(settings, engine=...)`` builds a new app each call; nothing is created at import.
The OpenAPI document is served at ``/v1/openapi.json`` with interactive docs at ``/v1/docs``.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from orchestrator.api.deps import AuthCache
from orchestrator.api.limits import BodyLimitMiddleware
from orchestrator.api.problems import install_problem_handlers
from orchestrator.api.security_headers import SecurityHeadersMiddleware
from orchestrator.api.status_cache import StatusCache
from orchestrator.api.synchronous_clean import CleanSlots

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from orchestrator.crowd.platform import CrowdPlatform
    from orchestrator.settings import Settings

API_PREFIX = "/v1"


def _is_upload(path: str) -> bool:
    return path.rstrip("/") == f"{API_PREFIX}/datasets"


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    platform_factory: Callable[[], CrowdPlatform] | None = None,
) -> FastAPI:
    """A new API app.

    Args:
        settings: service settings (default: :func:`orchestrator.settings.get_settings`).
        engine: the database (default: a new engine on ``settings.database_url``, disposed
            when the app shuts down). The schema must be migrated (``crowdclean db upgrade``;
            ``crowdclean serve`` does it).
        platform_factory: builds the crowd platform used to dispose of HITs on cancel
            (default: MTurk via boto3 from ``settings.mturk``, built on first use).
    """
    from orchestrator import __version__ as version
    from orchestrator.settings import get_settings

    settings = settings or get_settings()
    own_engine = engine is None
    if engine is None:
        from orchestrator.db.engine import make_engine

        engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if own_engine:
            app.state.engine.dispose()

    app = FastAPI(
        title="crowdclean",
        version=version,
        description="Debug noisy training labels with a deep generative model and a crowd. "
        "Authenticate with `Authorization: Bearer <API key>`. Errors are RFC 9457 problem "
        "details (`application/problem+json`).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.auth_cache = AuthCache(settings.api.auth_cache_ttl_s)
    app.state.status_cache = StatusCache(engine, ttl_s=settings.api.status_cache_ttl_s)
    app.state.platform_factory = platform_factory or _mturk_factory(settings)
    app.state.clean_slots = CleanSlots(settings.api.clean_concurrency)
    install_problem_handlers(app)
    app.add_middleware(SecurityHeadersMiddleware, docs_path=f"{API_PREFIX}/docs")
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.api.max_body_bytes,
        max_upload_bytes=settings.api.max_upload_bytes,
        is_upload=_is_upload,
    )
    from orchestrator.api.routes import (
        campaigns,
        clean,
        dashboard,
        datasets,
        exports,
        items,
        meta,
    )

    # Included one level deep (not through a /v1 parent router): route matching walks nested
    # routers level by level, a measurable share of a cached status request's CPU.
    for module in (campaigns, items, exports, datasets, clean, dashboard, meta):
        app.include_router(module.router, prefix=API_PREFIX)
    return app


def _mturk_factory(settings: Settings) -> Callable[[], Any]:
    lock = threading.Lock()
    built: list[Any] = []

    def factory() -> Any:
        with lock:
            if not built:
                from orchestrator.crowd.mturk import MTurkPlatform

                built.append(MTurkPlatform.from_settings(settings.mturk))
            return built[0]

    return factory
