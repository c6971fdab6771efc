"""``/v1/campaigns/{id}/dashboard`` (HTML) and the browser sign-in (``/v1/login``).

A browser cannot send a Bearer header on a plain link, so ``POST /v1/login`` takes the API key
from a form, checks it, opens a server-side session (:mod:`orchestrator.api.sessions`) and puts
its token, never the key, in an ``HttpOnly``, ``SameSite=Strict`` cookie scoped to ``/v1``
(``Secure`` on HTTPS). The cookie is honoured on GET/HEAD only. Keys never travel in URLs (they
would end up in logs and browser history). ``POST /v1/logout`` ends the session on the server
and clears the cookie; revoking the key ends it too.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from orchestrator.api import rules
from orchestrator.api.dashboard import latent_view, render_dashboard, render_login
from orchestrator.api.deps import (
    COOKIE_NAME,
    EngineDep,
    SettingsDep,
    StatusCacheDep,
    authenticate,
)
from orchestrator.api.keys import Principal, verify_api_key
from orchestrator.api.problems import Problem
from orchestrator.api.sessions import SESSION_TTL, close_session, open_session

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from orchestrator.api.status_cache import StatusCache
    from orchestrator.settings import Settings

router = APIRouter(tags=["dashboard"])


def _safe_next(url: str | None) -> str:
    # Only same-site API paths: never an open redirect to another host.
    if url and url.startswith("/v1/") and not url.startswith("//") and "\\" not in url:
        return url
    return "/v1/whoami"


@router.get("/login", response_class=HTMLResponse, summary="Sign-in form for the dashboard")
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return HTMLResponse(render_login(str(request.url.path), _safe_next(next)))


@router.post("/login", summary="Check an API key and keep it in a cookie for the dashboard")
def login(
    request: Request,
    engine: EngineDep,
    key: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "/v1/whoami",
) -> Response:
    target = _safe_next(next)
    principal = verify_api_key(engine, key)
    if principal is None:
        return HTMLResponse(
            render_login(str(request.url.path), target, "That API key is not valid."),
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="crowdclean"'},
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        open_session(engine, principal),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/v1",
        max_age=int(SESSION_TTL.total_seconds()),
    )
    return response


@router.post("/logout", summary="End the dashboard session and clear its cookie")
def logout(request: Request, engine: EngineDep) -> Response:
    close_session(engine, request.cookies.get(COOKIE_NAME, ""))
    response = RedirectResponse("/v1/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/v1")
    return response


@router.get(
    "/campaigns/{campaign_id}/dashboard",
    response_class=HTMLResponse,
    summary="Campaign dashboard (HTML): progress, spend, latent space, accuracy per round",
    description="Bearer header or the cookie from `POST /v1/login`. A browser without "
    "credentials is sent to the sign-in form; other clients get 401.",
)
async def dashboard(
    request: Request,
    campaign_id: uuid.UUID,
    engine: EngineDep,
    settings: SettingsDep,
    cache: StatusCacheDep,
) -> Response:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    credentials = (
        HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
        if scheme.lower() == "bearer" and token.strip()
        else None
    )
    try:
        principal = await authenticate(request, credentials)
    except Problem as exc:
        if exc.status_code == 401 and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(f"/v1/login?next={request.url.path}", status_code=303)
        raise
    html = await run_in_threadpool(_render, engine, settings, cache, principal, campaign_id)
    return HTMLResponse(html)


def _render(
    engine: Engine,
    settings: Settings,
    cache: StatusCache,
    principal: Principal,
    campaign_id: uuid.UUID,
) -> str:
    rules.campaign_for(engine, principal, campaign_id)
    status = cache.get(campaign_id)
    view = latent_view(
        engine, campaign_id, max_points=settings.api.dashboard_points, seed=settings.seed
    )
    return render_dashboard(status, view, export_base=f"/v1/campaigns/{campaign_id}/export")
