"""``/v1/campaigns``: create, list, read, start / pause / resume / cancel, status."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from orchestrator.api import rules
from orchestrator.api.deps import (
    EngineDep,
    PlatformFactoryDep,
    RequesterDep,
    SettingsDep,
    StatusCacheDep,
)
from orchestrator.api.limits import SQL_INT_MAX
from orchestrator.api.schemas import CampaignIn, CampaignOut, CampaignPage, CancelOut, StatusOut
from orchestrator.campaigns.lifecycle import VERBS, Verb
from orchestrator.db.models import CampaignStatus
from orchestrator.storage.artifacts import artifact_root

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


@router.get("", response_model=CampaignPage, summary="Campaigns visible to your key")
def list_campaigns(
    engine: EngineDep,
    principal: RequesterDep,
    status_: Annotated[CampaignStatus | None, Query(alias="status")] = None,
    requester: Annotated[
        str | None, Query(description="Owner filter (operator keys: any owner).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=SQL_INT_MAX)] = 0,
) -> CampaignPage:
    rows, total = rules.list_campaigns(
        engine, principal, status=status_, requester=requester, limit=limit, offset=offset
    )
    return CampaignPage(
        campaigns=[CampaignOut.of(c) for c in rows], total=total, limit=limit, offset=offset
    )


@router.post(
    "",
    response_model=CampaignOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a campaign (draft) on one of your datasets",
)
def create_campaign(
    body: CampaignIn, engine: EngineDep, settings: SettingsDep, principal: RequesterDep
) -> CampaignOut:
    campaign = rules.create_campaign_for(
        engine,
        principal,
        dataset=body.dataset,
        name=body.name,
        budget_usd=body.budget_usd,
        config=body.config,
        data_dir=artifact_root(settings),
        requester=body.requester,
    )
    return CampaignOut.of(campaign)


@router.get("/{campaign_id}", response_model=CampaignOut, summary="One campaign")
def get_campaign(campaign_id: uuid.UUID, engine: EngineDep, principal: RequesterDep) -> CampaignOut:
    return CampaignOut.of(rules.campaign_for(engine, principal, campaign_id))


def _add_verb_route(verb: Verb, otherwise: str) -> None:
    """``POST /{campaign_id}/<verb>``: the verb table's rule, then the cached status dropped."""

    def act(
        campaign_id: uuid.UUID, engine: EngineDep, principal: RequesterDep, cache: StatusCacheDep
    ) -> CampaignOut:
        campaign = rules.campaign_action(engine, principal, campaign_id, verb)
        cache.invalidate(campaign_id)
        return CampaignOut.of(campaign)

    router.post(
        f"/{{campaign_id}}/{verb}",
        response_model=CampaignOut,
        summary=f"{VERBS[verb].summary} ({otherwise})",
        name=verb,
    )(act)


# Summaries quote the verb table the CLI shares (orchestrator.campaigns.lifecycle.VERBS).
_add_verb_route("start", "409 otherwise: a paused or failed one is resumed")
_add_verb_route("pause", "409 otherwise")
_add_verb_route("resume", "409 otherwise")


@router.post(
    "/{campaign_id}/cancel",
    response_model=CancelOut,
    summary="Cancel, then expire and dispose of outstanding HITs",
    description="Any state but completed → cancelled (409 from completed). Work already "
    "submitted is paid, open HITs are expired and deleted, reservations are released. "
    "Calling it again on a cancelled campaign retries the HIT clean-up.",
)
def cancel(
    campaign_id: uuid.UUID,
    engine: EngineDep,
    settings: SettingsDep,
    principal: RequesterDep,
    cache: StatusCacheDep,
    platform_factory: PlatformFactoryDep,
) -> CancelOut:
    outcome = rules.cancel_campaign_for(
        engine, principal, campaign_id, platform_factory, lease_ttl_s=settings.scheduler.lease_ttl_s
    )
    cache.invalidate(campaign_id)
    return CancelOut(
        campaign=CampaignOut.of(outcome.campaign),
        open_hits=outcome.open_hits,
        cleanup=None if outcome.cleanup is None else outcome.cleanup.summary(),
        deferred=outcome.deferred,
    )


@router.get(
    "/{campaign_id}/status",
    response_model=StatusOut,
    summary="State, round, money, label counts, accuracy estimate, worker stats",
    description="Cached per process for `status_cache_ttl_s` (default 1 s).",
)
async def campaign_status(
    campaign_id: uuid.UUID, principal: RequesterDep, cache: StatusCacheDep
) -> Response:
    # The hot path: a cached document is answered on the event loop, pre-encoded, with no
    # database query and no thread hop; a miss computes it in the thread pool.
    entry = cache.cached(campaign_id)
    if entry is None:
        try:
            entry = await run_in_threadpool(cache.get_json, campaign_id)
        except LookupError:
            entry = None
    # The cached document names its owner, so visibility costs no query either.
    rules.require_visible(
        principal,
        "campaign",
        campaign_id,
        owner=None if entry is None else entry[0]["requester"],
        exists=entry is not None,
    )
    assert entry is not None  # require_visible answered 404 for a missing campaign
    return Response(entry[1], media_type="application/json")
