"""The base of this API's pure ASGI middlewares: they act on HTTP requests only.

Other scopes (``lifespan`` at start-up and shutdown, ``websocket``) pass through untouched, so
a middleware written on :class:`HttpMiddleware` never sees a scope without a path or headers.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    """Calls :meth:`handle` for ``http`` scopes and passes every other scope to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request, normally by calling ``self.app`` with wrapped channels."""
        raise NotImplementedError
