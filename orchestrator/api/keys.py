"""API keys: create, verify, list, revoke. Only a SHA-256 digest of each key is stored.

A key reads ``cc_<prefix>_<secret>``: 12 hex characters of random prefix that find the row, and
a secret of 32 random bytes (43 URL-safe characters). Because the secret is uniformly random
with 256 bits of entropy, a fast digest is as safe as a slow password hash here (nothing to
guess), and it keeps authentication cheap on every request. Digests are compared in constant
time. Keys are printed once, at creation, and cannot be shown again.

This module does not import FastAPI: the CLI (``crowdclean apikey``) uses it too.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestrator.api.errors import InvalidInputError, NotFoundError
from orchestrator.db.models import ApiKey, ApiKeyRole
from orchestrator.db.types import utcnow

KEY_PATTERN = re.compile(r"^cc_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
REQUESTER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,199}$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the requester name and role of a verified key."""

    requester: str
    role: ApiKeyRole
    key_id: uuid.UUID

    @property
    def is_operator(self) -> bool:
        return self.role == ApiKeyRole.OPERATOR


def key_digest(key: str) -> str:
    """SHA-256 hex digest of a whole key (what is stored)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def validate_requester(name: str) -> str:
    """A requester name: 1-200 of letters, digits and ``_ . @ -``, starting alphanumeric."""
    if not REQUESTER_PATTERN.fullmatch(name):
        raise InvalidInputError(
            f"requester name {name!r} is not allowed: use 1-200 letters, digits, '_', '.', '@' "
            "or '-', starting with a letter or digit"
        )
    return name


def create_api_key(
    engine: Engine,
    requester: str,
    *,
    role: ApiKeyRole = ApiKeyRole.REQUESTER,
    note: str = "",
) -> tuple[ApiKey, str]:
    """Store a new key for ``requester``; returns the row and the key (shown only now)."""
    validate_requester(requester)
    prefix = secrets.token_hex(6)
    key = f"cc_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        requester=requester, role=role, prefix=prefix, key_hash=key_digest(key), note=note[:500]
    )
    with Session(engine, expire_on_commit=False) as s:
        s.add(row)
        s.commit()
    return row, key


def verify_api_key(engine: Engine, key: str) -> Principal | None:
    """The principal of a valid, unrevoked key; None for anything else (never raises on input)."""
    match = KEY_PATTERN.fullmatch(key.strip())
    if match is None:
        return None
    with Session(engine) as s:
        row = s.exec(select(ApiKey).where(ApiKey.prefix == match.group(1))).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, key_digest(key.strip())):
        return None
    return Principal(requester=row.requester, role=row.role, key_id=row.id)


def list_api_keys(engine: Engine, requester: str | None = None) -> list[ApiKey]:
    """Keys (revoked ones included), newest first; only ``requester``'s when given."""
    with Session(engine) as s:
        query = select(ApiKey).order_by(col(ApiKey.created_at).desc())
        if requester is not None:
            query = query.where(ApiKey.requester == requester)
        return list(s.exec(query).all())


def revoke_api_key(engine: Engine, ref: str) -> ApiKey:
    """Revoke the key with this prefix, id or full key; LookupError when there is none."""
    ref = ref.strip()
    match = KEY_PATTERN.fullmatch(ref)
    prefix = match.group(1) if match else ref
    with Session(engine, expire_on_commit=False) as s:
        row = s.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
        if row is None:
            try:
                row = s.get(ApiKey, uuid.UUID(ref))
            except ValueError:
                row = None
        if row is None:
            raise NotFoundError(f"no API key with prefix or id {ref!r}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            s.add(row)
            s.commit()
        return row
