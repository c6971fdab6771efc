"""Request size limits: 413 problem details past ``max_body_bytes`` (uploads: ``max_upload_bytes``).

A declared ``Content-Length`` over the limit is refused before the body is read. A body sent
without one (chunked) is counted while it is read and refused as soon as it passes the limit,
so nothing larger than the limit is ever buffered.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.api.http_middleware import HttpMiddleware
from orchestrator.api.problems import PROBLEM_JSON, PROBLEM_TYPES, Problem, problem_type


def _too_large(limit: int, what: str) -> Problem:
    return Problem(
        413,
        "payload-too-large",
        f"the {what} is larger than the limit of {limit} bytes",
        limit_bytes=limit,
    )


class BodyLimitMiddleware(HttpMiddleware):
    """Pure ASGI middleware enforcing a byte limit per request (chosen by path)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        is_upload: Callable[[str], bool],
    ) -> None:
        super().__init__(app)
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.is_upload = is_upload

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        upload = self.is_upload(scope.get("path", ""))
        limit = self.max_upload_bytes if upload else self.max_body_bytes
        what = "upload" if upload else "request body"
        declared = None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
        if declared is not None and declared > limit:
            await self._refuse(scope, send, limit, what)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(limit, what)
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, scope: Scope, send: Send, limit: int, what: str) -> None:
        body = json.dumps(
            {
                "type": problem_type("payload-too-large"),
                "title": PROBLEM_TYPES["payload-too-large"],
                "status": 413,
                "detail": f"the {what} is larger than the limit of {limit} bytes",
                "instance": scope.get("path", ""),
                "limit_bytes": limit,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


SQL_INT_MAX = 2**62
"""Largest offset or position a request may carry: inside the signed 64-bit range that SQLite
and PostgreSQL bind, with headroom for the offset + limit arithmetic after it."""
