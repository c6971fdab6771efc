"""Service metadata: health (no auth) and the caller's identity."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from orchestrator.api.deps import EngineDep, RequesterDep
from orchestrator.api.schemas import WhoAmI

router = APIRouter(tags=["meta"])


@router.get("/health", summary="Liveness and database reachability (no auth)")
def health(engine: EngineDep) -> dict[str, str]:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok"}


@router.get("/whoami", response_model=WhoAmI, summary="The requester and role of your API key")
def whoami(principal: RequesterDep) -> WhoAmI:
    return WhoAmI(requester=principal.requester, role=principal.role.value)
