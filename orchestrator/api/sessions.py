"""Dashboard sign-in sessions: the browser cookie holds a random token, never the API key.

``POST /v1/login`` checks the key and calls :func:`open_session`; the cookie then carries the
token (32 random bytes, URL-safe), of which only the SHA-256 digest is stored. Every request
with the cookie resolves it through :func:`session_principal`, which also checks that the key
behind it is still unrevoked, so revoking a key ends its browser sessions at once. Logout
deletes the row (:func:`close_session`). Sessions last :data:`SESSION_TTL` at most.

This module does not import FastAPI.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, delete, select

from orchestrator.api.keys import Principal
from orchestrator.db.models import ApiKey, BrowserSession
from orchestrator.db.types import utcnow

SESSION_TTL = timedelta(hours=12)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(engine: Engine, principal: Principal) -> str:
    """A new session for the principal's key; returns the token for the cookie."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with Session(engine) as s:
        # Expired rows of this key are swept here, so the table stays small without a job.
        s.exec(
            delete(BrowserSession).where(
                BrowserSession.api_key_id == principal.key_id,  # type: ignore[arg-type]
                BrowserSession.expires_at < now,  # type: ignore[arg-type]
            )
        )
        s.add(
            BrowserSession(
                token_hash=_digest(token),
                api_key_id=principal.key_id,
                created_at=now,
                expires_at=now + SESSION_TTL,
            )
        )
        s.commit()
    return token


def session_principal(engine: Engine, token: str) -> Principal | None:
    """The principal of a live session (unexpired, key unrevoked); None for anything else."""
    if not token or len(token) > 100:
        return None
    with Session(engine) as s:
        row = s.exec(
            select(BrowserSession, ApiKey)
            .join(ApiKey, ApiKey.id == BrowserSession.api_key_id)  # type: ignore[arg-type]
            .where(BrowserSession.token_hash == _digest(token))
        ).first()
    if row is None:
        return None
    sess, key = row
    if key.revoked_at is not None or sess.expires_at <= utcnow():
        return None
    return Principal(requester=key.requester, role=key.role, key_id=key.id)


def close_session(engine: Engine, token: str) -> None:
    """End the session of this token (nothing happens for an unknown one)."""
    if not token or len(token) > 100:
        return
    with Session(engine) as s:
        s.exec(
            delete(BrowserSession).where(
                BrowserSession.token_hash == _digest(token)  # type: ignore[arg-type]
            )
        )
        s.commit()
