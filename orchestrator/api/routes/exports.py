"""``/v1/campaigns/{id}/export``: the cleaned labels as CSV, JSONL or Parquet, streamed."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from orchestrator.api import rules
from orchestrator.api.deps import EngineDep, RequesterDep
from orchestrator.campaigns.cleaned_labels import campaign_export_chunks, label_context
from orchestrator.export.writer import MEDIA_TYPES, iter_export_bytes

router = APIRouter(prefix="/campaigns/{campaign_id}/export", tags=["exports"])


@router.get(
    "",
    summary="Download the cleaned labels (export schema v1)",
    description="Streamed chunk by chunk (10,000 items per chunk; Parquet: one row group per "
    "chunk), so any size downloads in bounded server memory. Same rows as `crowdclean export`.",
    response_class=StreamingResponse,
    responses={200: {"content": {m.split(";")[0]: {} for m in MEDIA_TYPES.values()}}},
)
def export(
    campaign_id: uuid.UUID,
    engine: EngineDep,
    principal: RequesterDep,
    format_: Annotated[Literal["csv", "jsonl", "parquet"], Query(alias="format")] = "csv",
) -> StreamingResponse:
    campaign = rules.campaign_for(engine, principal, campaign_id)
    # Fail before the first byte if the campaign cannot be read, then stream.
    ctx = label_context(engine, campaign.id)
    chunks = campaign_export_chunks(engine, campaign.id, context=ctx)
    filename = f"crowdclean-{campaign.id}.{format_}"
    return StreamingResponse(
        iter_export_bytes(chunks, format_),
        media_type=MEDIA_TYPES[format_],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
