"""Security headers: ``nosniff`` on every answer; on HTML pages also a Content-Security-Policy,
``X-Frame-Options: DENY`` and ``Referrer-Policy: no-referrer``.

The dashboard and sign-in pages are self-contained (inline CSS and SVG, no scripts), so their
policy allows nothing but inline styles, same-origin images, same-origin requests (the export
links' downloads) and forms posting to this origin; no script may run.
The interactive API docs (``/v1/docs``) load Swagger UI from its CDN and get a policy allowing
that CDN only. Pages may never be framed (click-jacking).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.api.http_middleware import HttpMiddleware

PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_POLICY = (
    "default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src https://cdn.jsdelivr.net 'unsafe-inline'; img-src https: data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_ALWAYS = [(b"x-content-type-options", b"nosniff")]


class SecurityHeadersMiddleware(HttpMiddleware):
    """Pure ASGI middleware; ``docs_path`` is the one HTML page that loads a CDN."""

    def __init__(self, app: ASGIApp, *, docs_path: str) -> None:
        super().__init__(app)
        self.docs_path = docs_path

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        policy = DOCS_POLICY if scope.get("path") == self.docs_path else PAGE_POLICY

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + _ALWAYS
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if ctype.startswith(b"text/html"):
                    headers += [
                        (b"content-security-policy", policy.encode()),
                        (b"x-frame-options", b"DENY"),
                        (b"referrer-policy", b"no-referrer"),
                    ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
