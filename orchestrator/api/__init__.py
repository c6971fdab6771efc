"""The HTTP API: a FastAPI app factory, one router per resource under ``/v1``, API-key auth,
problem-details errors (RFC 9457), streamed exports and a per-campaign dashboard.

``create_app`` is imported lazily so that ``import orchestrator.api`` (e.g. by the CLI) does not
pull in FastAPI; nothing here opens a database or socket at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from orchestrator.api.app import create_app

        return create_app
    raise AttributeError(name)
