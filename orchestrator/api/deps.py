"""Typed dependencies: settings, engine, the app's status cache, crowd platform factory and
clean slots, and the calling principal (API-key auth). Routes take what they need from here,
never from ``request.app.state``. The rules open their own sessions (they are also called
from the CLI and jobs).

Authentication: ``Authorization: Bearer <key>`` on every request. Browsers (the dashboard)
may instead present the ``crowdclean_session`` cookie set by ``POST /v1/login``: a server-side
session token, not the key (see :mod:`orchestrator.api.sessions`). The cookie is accepted on
GET/HEAD requests only, so it can never trigger a state change (no CSRF exposure). Missing or
bad credentials answer 401 with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from orchestrator.api.keys import Principal, key_digest, verify_api_key
from orchestrator.api.problems import Problem
from orchestrator.api.status_cache import StatusCache
from orchestrator.api.synchronous_clean import CleanSlots
from orchestrator.crowd.platform import CrowdPlatform
from orchestrator.settings import Settings

COOKIE_NAME = "crowdclean_session"
_bearer = HTTPBearer(auto_error=False, description="An API key from `crowdclean apikey create`.")


# The trivial dependencies are ``async def`` so FastAPI runs them inline instead of sending
# each through the thread pool (a thread hop per dependency per request adds up under load).


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_status_cache(request: Request) -> StatusCache:
    cache: StatusCache = request.app.state.status_cache
    return cache


async def get_platform_factory(request: Request) -> Callable[[], CrowdPlatform]:
    """Builds the app's crowd platform on first use (handlers that never touch the crowd
    never open a client)."""
    factory: Callable[[], CrowdPlatform] = request.app.state.platform_factory
    return factory


async def get_clean_slots(request: Request) -> CleanSlots:
    slots: CleanSlots = request.app.state.clean_slots
    return slots


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
StatusCacheDep = Annotated[StatusCache, Depends(get_status_cache)]
PlatformFactoryDep = Annotated[Callable[[], CrowdPlatform], Depends(get_platform_factory)]
CleanSlotsDep = Annotated[CleanSlots, Depends(get_clean_slots)]


def _unauthorized(detail: str, error: str = "invalid_token") -> Problem:
    return Problem(
        401,
        "unauthorized",
        detail,
        headers={"WWW-Authenticate": f'Bearer realm="crowdclean", error="{error}"'},
    )


class AuthCache:
    """Verified keys for ``ttl_s`` seconds (digest → principal); 0 disables it."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, digest: str) -> Principal | None:
        hit = self._entries.get(digest)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, digest: str, principal: Principal) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + self.ttl_s, principal)


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller's principal, or 401. A cached key costs no database query and no thread."""
    key: str | None = None
    if credentials is not None:
        key = credentials.credentials
    elif request.method in ("GET", "HEAD") and request.cookies.get(COOKIE_NAME):
        # Not cached: a logout or a revoked key must end the session on the next request.
        from orchestrator.api.sessions import session_principal

        token = request.cookies[COOKIE_NAME]
        session = await run_in_threadpool(session_principal, request.app.state.engine, token)
        if session is None:
            raise _unauthorized("the sign-in session has ended (logged out, expired or revoked)")
        return session
    if not key:
        if request.headers.get("authorization"):
            raise _unauthorized("the Authorization header must read 'Bearer <API key>'")
        raise _unauthorized(
            "this endpoint needs an API key: send 'Authorization: Bearer <key>' "
            "(create one with `crowdclean apikey create --requester NAME`)",
            error="invalid_request",
        )
    cache: AuthCache = request.app.state.auth_cache
    digest = key_digest(key.strip())
    principal = cache.get(digest)
    if principal is None:
        principal = await run_in_threadpool(verify_api_key, request.app.state.engine, key)
        if principal is None:
            raise _unauthorized("the API key is not valid (unknown, malformed or revoked)")
        cache.put(digest, principal)
    return principal


RequesterDep = Annotated[Principal, Depends(authenticate)]


async def require_operator(principal: RequesterDep) -> Principal:
    if not principal.is_operator:
        raise Problem(403, "forbidden", "this action needs an operator API key")
    return principal


OperatorDep = Annotated[Principal, Depends(require_operator)]
