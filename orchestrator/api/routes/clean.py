"""``POST /v1/datasets/{ref}/clean``: crowd-free cleaning of one of your datasets, synchronous.

The rules (visibility, size, cost, concurrency) live in :mod:`orchestrator.api.synchronous_clean`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import StreamingResponse

from orchestrator.api.deps import CleanSlotsDep, EngineDep, RequesterDep, SettingsDep
from orchestrator.api.schemas import CleanIn
from orchestrator.api.synchronous_clean import clean_dataset_for, summary_headers
from orchestrator.cleaning.crowd_free import issue_export_chunks
from orchestrator.export.writer import MEDIA_TYPES, iter_export_bytes

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.post(
    "/{ref}/clean",
    summary="Clean a dataset's labels with no crowd (export schema v2)",
    description="Fits the label model on the dataset's delivered labels alone (no crowd, no "
    "money) while the request waits, then streams one row per item in the export schema: "
    "the suggested label (`cleaned_label`, `source` `model` where it differs) and "
    "`p_label_wrong`, the probability that the delivered label is wrong. Headers "
    "`X-Crowdclean-Label-Issues` (items whose suggested label differs) and "
    "`X-Crowdclean-Beta`. Limits: datasets up to `api.clean_max_items` items (422 "
    "`dataset-too-large` beyond: use `crowdclean clean`), model overrides no dearer than the "
    "default (422 naming the field), `api.clean_concurrency` fits at a time per process (503 "
    "`busy` with `Retry-After` beyond). Another requester's dataset answers 404.",
    response_class=StreamingResponse,
    responses={200: {"content": {m.split(";")[0]: {} for m in MEDIA_TYPES.values()}}},
)
def clean_dataset(
    ref: str,
    engine: EngineDep,
    settings: SettingsDep,
    principal: RequesterDep,
    slots: CleanSlotsDep,
    body: Annotated[CleanIn | None, Body()] = None,
    format_: Annotated[Literal["csv", "jsonl", "parquet"], Query(alias="format")] = "csv",
) -> StreamingResponse:
    options = body or CleanIn()
    # Everything that can fail (visibility, limits, the fit) happens before the first byte.
    outcome = clean_dataset_for(
        engine,
        principal,
        ref,
        config=options.model,
        seed=options.seed,
        max_items=settings.api.clean_max_items,
        slots=slots,
    )
    filename = f"crowdclean-clean-{outcome.dataset.id}.{format_}"
    return StreamingResponse(
        iter_export_bytes(issue_export_chunks(outcome.data, outcome.issues), format_),
        media_type=MEDIA_TYPES[format_],
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            **summary_headers(outcome.issues),
        },
    )
