"""``/v1/campaigns/{id}/items``: cleaned labels item by item, filtered and paginated."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from orchestrator.api import rules
from orchestrator.api.deps import EngineDep, RequesterDep, SettingsDep
from orchestrator.api.problems import Problem
from orchestrator.api.schemas import ItemOut, ItemPage

router = APIRouter(prefix="/campaigns/{campaign_id}/items", tags=["items"])


@router.get(
    "",
    response_model=ItemPage,
    summary="Items with their cleaned label and provenance",
    description="Position order. Follow `next_cursor` until it is null; a page can be shorter "
    "than `limit` (each request scans a bounded number of items).",
)
def list_items(
    campaign_id: uuid.UUID,
    engine: EngineDep,
    settings: SettingsDep,
    principal: RequesterDep,
    source: Annotated[Literal["original", "model", "crowd", "propagated"] | None, Query()] = None,
    round_: Annotated[
        int | None, Query(alias="round", ge=-1, description="Round that set the label (-1: none).")
    ] = None,
    changed: Annotated[
        bool | None, Query(description="Cleaned label differs from the original.")
    ] = None,
    label: Annotated[str | None, Query(description="Cleaned label equals this class.")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ItemPage:
    limit = limit or settings.api.default_page_size
    if limit > settings.api.max_page_size:
        raise Problem(
            422,
            "validation-error",
            f"limit {limit} is above the maximum page size of {settings.api.max_page_size}",
        )
    rules.campaign_for(engine, principal, campaign_id)
    flt = rules.ItemFilter(source=source, round=round_, changed=changed, label=label)
    rows, nxt = rules.items_page(engine, campaign_id, flt, cursor=cursor, limit=limit)
    return ItemPage(items=[ItemOut.model_validate(r) for r in rows], next_cursor=nxt, limit=limit)
