"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error answer carries ``type`` (a URN naming the kind of problem: see :data:`PROBLEM_TYPES`),
``title`` (short, per type), ``status``, ``detail`` (what went wrong with this request, in
words a requester can act on) and ``instance`` (the request path). Some add members:
``errors`` (422: each invalid field with its location), ``row`` / ``column`` (a refused
dataset upload), ``state`` (409: the campaign's current state), ``limit_bytes`` (413),
``n_items`` / ``limit_items`` (422 ``dataset-too-large``: a synchronous clean).

Domain errors raised below the API are mapped here, so handlers stay thin and the rules stay in
:mod:`orchestrator.api.rules`: :mod:`orchestrator.api.errors` (``NotFoundError`` 404,
``ForbiddenError`` 403, ``InvalidInputError`` 422), ``CampaignStateError`` 409,
``DatasetNameTakenError`` 409, ``DatasetError`` and ``MoneyError`` 422, the scheduler's plain
``LookupError("no campaign …")`` 404, a crowd ``PlatformError`` 502. Anything else, a stray
``KeyError`` or ``ValueError`` included, is a bug and answers 500 without internals (and is
logged).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

#: slug → title. The ``type`` member is ``urn:crowdclean:problem:<slug>``.
PROBLEM_TYPES: dict[str, str] = {
    "unauthorized": "Missing or invalid API key",
    "forbidden": "Not allowed for this API key",
    "not-found": "Resource not found",
    "method-not-allowed": "Method not allowed",
    "validation-error": "Invalid request",
    "invalid-dataset": "Dataset refused",
    "name-taken": "You already have a dataset of this name",
    "invalid-state": "Action not allowed in the campaign's current state",
    "payload-too-large": "Request body too large",
    "dataset-too-large": "Dataset too large for a synchronous request",
    "busy": "Server busy, retry later",
    "unsupported-media-type": "Unsupported media type",
    "crowd-platform-error": "Crowd platform call failed",
    "internal-error": "Internal server error",
    "http-error": "HTTP error",
}


def problem_type(slug: str) -> str:
    return f"urn:crowdclean:problem:{slug}"


class Problem(HTTPException):
    """An error answered as problem details. Subclasses FastAPI's ``HTTPException`` so FastAPI
    re-raises it unchanged when it happens while a request body is read."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.slug = slug
        self.extra = extra


def problem_response(
    request: Request,
    status: int,
    slug: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A ``application/problem+json`` response for ``request``."""
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": PROBLEM_TYPES.get(slug, PROBLEM_TYPES["http-error"]),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


_STATUS_SLUGS = {
    400: "validation-error",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "invalid-state",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
}


def _loc(loc: Any) -> str:
    return ".".join(str(p) for p in loc)


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(
        request, exc.status_code, exc.slug, str(exc.detail), headers=exc.headers, **exc.extra
    )


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = _STATUS_SLUGS.get(exc.status_code, "http-error")
    detail = str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}; the API lives under /v1"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem_response(request, exc.status_code, slug, detail, headers=exc.headers)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": _loc(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5]) or "invalid request"
    if len(errors) > 5:
        detail += f"; and {len(errors) - 5} more"
    return problem_response(request, 422, "validation-error", detail, errors=errors)


async def _on_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        request,
        500,
        "internal-error",
        f"the server failed on this request ({type(exc).__name__}); it has been logged",
    )


def _answer_as(status: int, slug: str) -> Handler:
    """A handler answering ``status`` with ``slug``, the exception's message as the detail."""

    async def on(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, status, slug, str(exc))

    return on


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem details."""
    from orchestrator.api.errors import ForbiddenError, InvalidInputError, NotFoundError
    from orchestrator.campaigns.lifecycle import CampaignStateError
    from orchestrator.crowd.money import MoneyError
    from orchestrator.crowd.platform import PlatformError
    from orchestrator.data.errors import DatasetError, DatasetNameTakenError

    async def on_dataset(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DatasetError)
        if isinstance(exc, DatasetNameTakenError):
            return problem_response(request, 409, "name-taken", str(exc))
        return problem_response(
            request, 422, "invalid-dataset", str(exc), row=exc.row, column=exc.column
        )

    async def on_value(request: Request, exc: Exception) -> JSONResponse:
        # Client-input errors only; any other ValueError is a bug (500).
        if isinstance(exc, InvalidInputError | MoneyError):
            return problem_response(request, 422, "validation-error", str(exc))
        return await _on_error(request, exc)

    async def on_lookup(request: Request, exc: Exception) -> JSONResponse:
        # Our NotFoundError, or the scheduler's plain LookupError("no campaign …"); a KeyError
        # or IndexError is a bug, answered as one.
        if isinstance(exc, NotFoundError) or type(exc) is LookupError:
            return problem_response(request, 404, "not-found", str(exc))
        return await _on_error(request, exc)

    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(DatasetError, on_dataset)
    app.add_exception_handler(CampaignStateError, _answer_as(409, "invalid-state"))
    app.add_exception_handler(MoneyError, on_value)
    app.add_exception_handler(PlatformError, _answer_as(502, "crowd-platform-error"))
    app.add_exception_handler(LookupError, on_lookup)
    app.add_exception_handler(ForbiddenError, _answer_as(403, "forbidden"))
    app.add_exception_handler(ValueError, on_value)
    app.add_exception_handler(Exception, _on_error)
