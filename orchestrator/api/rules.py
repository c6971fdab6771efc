"""The rules behind the HTTP API: who may see and do what, lifecycle, items, cancel.

Handlers in :mod:`orchestrator.api.routes` only parse and serialise; everything they decide
comes from here (the status document: :mod:`orchestrator.api.status_cache`). This module
does not import FastAPI. Errors are the exceptions of
:mod:`orchestrator.api.errors` (404, 403, 422) and ``CampaignStateError`` (409), which
:mod:`orchestrator.api.problems` turns into problem details.

Visibility: a requester sees its own campaigns and datasets only; another requester's
campaign answers 404 exactly like a missing one (its existence is not revealed). An operator
key sees and may act on everything. Datasets imported with the CLI belong to no requester
and are visible to operators only.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestrator.api.errors import ForbiddenError, InvalidInputError, NotFoundError
from orchestrator.api.keys import Principal
from orchestrator.api.limits import SQL_INT_MAX
from orchestrator.campaigns.cleaned_labels import (
    LabelChunk,
    LabelContext,
    label_chunk,
    label_context,
    labels_at,
)
from orchestrator.campaigns.config import CampaignConfig
from orchestrator.campaigns.lifecycle import Verb
from orchestrator.db.models import (
    Campaign,
    CampaignStatus,
    Dataset,
    Item,
    PropagatedLabel,
    VerifiedLabel,
)

if TYPE_CHECKING:
    from orchestrator.scheduler.leased_cancel import CancelOutcome
    from orchestrator.storage.artifacts import ArtifactDir

LABEL_SOURCES = ("original", "model", "crowd", "propagated")
#: Positions scanned at most per items request before answering with a (short) page.
SCAN_BUDGET = 50_000
_SCAN_CHUNK = 5_000


# --------------------------------------------------------------------------- access


def can_see(principal: Principal, owner: str | None) -> bool:
    """Operators see everything; a requester only what it owns."""
    return principal.is_operator or (owner is not None and owner == principal.requester)


def _not_found(kind: str, ref: object) -> NotFoundError:
    return NotFoundError(f"no {kind} {ref} visible to this API key")


def require_visible(
    principal: Principal, kind: str, ref: object, *, owner: str | None, exists: bool = True
) -> None:
    """The one visibility gate: NotFoundError (404) unless the thing exists and the principal
    may see it. Another requester's thing answers exactly like a missing one, so its
    existence is never revealed. ``owner=None`` with ``exists`` left True means no requester
    owns it (operators only)."""
    if not exists or not can_see(principal, owner):
        raise _not_found(kind, ref)


def campaign_for(engine: Engine, principal: Principal, campaign_id: uuid.UUID) -> Campaign:
    """The campaign if the principal may see it; NotFoundError otherwise (missing or not
    theirs)."""
    with Session(engine, expire_on_commit=False) as s:
        campaign = s.get(Campaign, campaign_id)
    require_visible(
        principal,
        "campaign",
        campaign_id,
        owner=None if campaign is None else campaign.requester,
        exists=campaign is not None,
    )
    assert campaign is not None
    return campaign


def list_campaigns(
    engine: Engine,
    principal: Principal,
    *,
    status: CampaignStatus | None = None,
    requester: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Campaign], int]:
    """(page, total) of the campaigns the principal may see, newest first.

    ``requester`` filters by owner; a requester key may only name itself.
    """
    if requester is not None and not principal.is_operator and requester != principal.requester:
        raise ForbiddenError("a requester key may list its own campaigns only")
    owner = requester if principal.is_operator else principal.requester
    with Session(engine) as s:
        query = select(Campaign)
        count = select(func.count()).select_from(Campaign)
        if owner is not None:
            query = query.where(Campaign.requester == owner)
            count = count.where(Campaign.requester == owner)
        if status is not None:
            query = query.where(Campaign.status == status)
            count = count.where(Campaign.status == status)
        total = int(s.exec(count).one())
        rows = s.exec(
            query.order_by(col(Campaign.created_at).desc(), col(Campaign.id))
            .offset(offset)
            .limit(limit)
        ).all()
    return list(rows), total


def list_datasets(engine: Engine, principal: Principal) -> list[Dataset]:
    """Datasets the principal may use, newest first."""
    with Session(engine) as s:
        query = select(Dataset).order_by(col(Dataset.created_at).desc())
        if not principal.is_operator:
            query = query.where(Dataset.owner == principal.requester)
        return list(s.exec(query).all())


def dataset_for(engine: Engine, principal: Principal, ref: str) -> Dataset:
    """A dataset by id or name that the principal may use; LookupError otherwise."""
    from orchestrator.data.errors import DatasetError
    from orchestrator.data.store import ANY_OWNER, get_dataset

    # A requester's names resolve among its own datasets only, so a name another requester
    # uses is simply not found (and an id of theirs is refused below).
    try:
        scope = ANY_OWNER if principal.is_operator else principal.requester
        ds = get_dataset(engine, ref, owner=scope)
    except DatasetError as exc:
        raise _not_found("dataset", ref) from exc
    require_visible(principal, "dataset", ref, owner=ds.owner)
    return ds


def import_dataset(
    engine: Engine,
    principal: Principal,
    path: Path,
    *,
    filename: str,
    mapping: Any,
    name: str,
    data_dir: Path | ArtifactDir,
    images: Any = None,
) -> Dataset:
    """Read, validate and store an uploaded file for the principal (``DatasetError`` if bad).

    Errors name the uploaded file's name (not the temporary path), its row and its column.
    ``images``: the image column's :class:`~orchestrator.data.image_column.ImageImportOptions`
    (an upload names images by URL only).
    """
    from orchestrator.data.errors import DatasetError
    from orchestrator.data.importer import read_dataset_file
    from orchestrator.data.store import save_dataset

    try:
        data = read_dataset_file(path, mapping, name=name, images=images)
    except DatasetError as exc:
        raise DatasetError(exc.message, source=filename, row=exc.row, column=exc.column) from exc
    return save_dataset(
        engine,
        data,
        name=name,
        source=f"upload:{filename}",
        data_dir=data_dir,
        owner=principal.requester,
    )


# --------------------------------------------------------------------------- lifecycle


def create_campaign_for(
    engine: Engine,
    principal: Principal,
    *,
    dataset: str,
    name: str,
    budget_usd: Decimal,
    config: CampaignConfig,
    data_dir: Path | ArtifactDir,
    requester: str | None = None,
) -> Campaign:
    """A draft campaign owned by the caller (an operator may name another ``requester``)."""
    from orchestrator.api.keys import validate_requester
    from orchestrator.campaigns.lifecycle import create_campaign

    owner = principal.requester
    if requester is not None and requester != principal.requester:
        if not principal.is_operator:
            raise ForbiddenError("only an operator key may create campaigns for another requester")
        owner = validate_requester(requester)
    ds = dataset_for(engine, principal, dataset)
    if owner != principal.requester and ds.owner != owner:
        # The requester will read this dataset's ids and labels through the campaign's export,
        # so it must be theirs: an operator cannot hand bob's data to alice by a campaign.
        raise ForbiddenError(
            f"dataset {dataset} does not belong to requester {owner}; a campaign created for "
            "a requester may only use a dataset that requester owns"
        )
    return create_campaign(
        engine,
        ds.id,
        name=name,
        budget_usd=budget_usd,
        config=config,
        data_dir=data_dir,
        requester=owner,
    )


def campaign_action(
    engine: Engine, principal: Principal, campaign_id: uuid.UUID, action: Verb
) -> Campaign:
    """Apply a lifecycle verb to a campaign the principal may act on (the rule and its table:
    :mod:`orchestrator.campaigns.lifecycle`, shared with the CLI)."""
    from orchestrator.campaigns.lifecycle import apply_verb

    campaign_for(engine, principal, campaign_id)
    return apply_verb(engine, campaign_id, action)


def cancel_campaign_for(
    engine: Engine,
    principal: Principal,
    campaign_id: uuid.UUID,
    platform_factory: Callable[[], Any],
    *,
    lease_ttl_s: float = 60.0,
) -> CancelOutcome:
    """Cancel a campaign the principal may act on (rules:
    :func:`orchestrator.scheduler.leased_cancel.cancel_campaign_safely`)."""
    from orchestrator.scheduler.leased_cancel import cancel_campaign_safely

    campaign_for(engine, principal, campaign_id)
    return cancel_campaign_safely(
        engine, campaign_id, platform_factory, lease_ttl_s=lease_ttl_s, owner_prefix="api"
    )


# --------------------------------------------------------------------------- items


@dataclass(frozen=True)
class ItemFilter:
    """Filters of the items listing; None means any."""

    source: str | None = None
    round: int | None = None
    changed: bool | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if self.source is not None and self.source not in LABEL_SOURCES:
            raise InvalidInputError(
                f"source must be one of {', '.join(LABEL_SOURCES)}, got {self.source!r}"
            )


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"p1:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """Position a cursor points at (0 for None); ValueError naming the cursor if it is bad."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, _, pos = raw.partition(":")
        # At most 19 digits: int() of a long digit string is slow, and a position past
        # SQL_INT_MAX would overflow the database's integer.
        if tag != "p1" or not pos.isdigit() or len(pos) > 19 or int(pos) > SQL_INT_MAX:
            raise ValueError
        return int(pos)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInputError(
            f"cursor {cursor!r} is not valid; pass the next_cursor of a previous page"
        ) from None


def _item_dict(chunk: LabelChunk, j: int, classes: list[str]) -> dict[str, Any]:
    return {
        "position": int(chunk.positions[j]),
        "item_id": chunk.external_ids[j],
        "original_label": classes[int(chunk.original[j])],
        "cleaned_label": classes[int(chunk.labels[j])],
        "source": str(chunk.sources[j]),
        "confidence": round(float(chunk.confidence[j]), 6),
        "vote_counts": chunk.vote_counts[j],
        "n_workers": int(chunk.n_workers[j]),
        "round": int(chunk.rounds[j]),
        "cluster": int(chunk.clusters[j]),
    }


def _keep(chunk: LabelChunk, flt: ItemFilter, classes: list[str]) -> np.ndarray:
    mask = np.ones(len(chunk), dtype=np.bool_)
    if flt.source is not None:
        mask &= chunk.sources == flt.source
    if flt.round is not None:
        mask &= chunk.rounds == flt.round
    if flt.changed is not None:
        mask &= (chunk.labels != chunk.original) == flt.changed
    if flt.label is not None:
        k = classes.index(flt.label) if flt.label in classes else -1
        mask &= chunk.labels == k
    return mask


def _candidate_positions(
    engine: Engine, ctx: LabelContext, flt: ItemFilter, start: int, limit: int
) -> list[int] | None:
    """Positions from the label tables when the filter can only match labelled items, else None.

    ``source=crowd|propagated`` and ``round=r ≥ 0`` match only items with a crowd or propagated
    label, which are few next to the dataset; reading those rows beats scanning every item.
    """
    tables: list[Any] = []
    if flt.source == "crowd":
        tables = [VerifiedLabel]
    elif flt.source == "propagated":
        tables = [PropagatedLabel]
    elif flt.round is not None and flt.round >= 0 and flt.source in (None, "crowd", "propagated"):
        tables = [VerifiedLabel, PropagatedLabel]
    if not tables:
        return None
    round_ids = [rid for rid, number in ctx.rounds.items() if number == flt.round]
    found: set[int] = set()
    with Session(engine) as s:
        for table in tables:
            query = (
                select(Item.position)
                .join(table, col(table.item_id) == col(Item.id))
                .where(
                    col(table.campaign_id) == ctx.campaign.id,
                    col(Item.dataset_id) == ctx.dataset.id,
                    col(Item.position) >= start,
                )
                .order_by(col(Item.position))
                .limit(limit)
            )
            if flt.round is not None:
                query = query.where(col(table.round_id).in_(round_ids))
            found.update(int(p) for p in s.exec(query).all())
    return sorted(found)[:limit]


def items_page(
    engine: Engine,
    campaign_id: uuid.UUID,
    flt: ItemFilter,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """(items, next_cursor): up to ``limit`` items at or after the cursor matching ``flt``.

    Items come in position order. A page may hold fewer than ``limit`` items when the scan of
    one request (:data:`SCAN_BUDGET` positions) found fewer; keep following ``next_cursor``
    until it is None.
    """
    start = decode_cursor(cursor)
    ctx = label_context(engine, campaign_id)
    classes = ctx.classes
    if flt.label is not None and flt.label not in classes:
        raise InvalidInputError(
            f"label {flt.label!r} is not a class of this campaign's dataset; "
            f"classes: {', '.join(classes)}"
        )
    out: list[dict[str, Any]] = []
    candidates = _candidate_positions(engine, ctx, flt, start, limit + 1)
    if candidates is not None:
        # A candidate can still fail the filter (a propagated item later verified by the crowd).
        while candidates:
            chunk = labels_at(engine, ctx, np.asarray(candidates, dtype=np.int64))
            keep = _keep(chunk, flt, classes)
            for j in np.flatnonzero(keep):
                if len(out) == limit:
                    return out, encode_cursor(int(chunk.positions[j]))
                out.append(_item_dict(chunk, int(j), classes))
            nxt = candidates[-1] + 1
            candidates = _candidate_positions(engine, ctx, flt, nxt, limit + 1) or []
        return out, None
    pos = start
    end = min(ctx.n_items, start + SCAN_BUDGET)
    while pos < end:
        hi = min(end, pos + _SCAN_CHUNK)
        chunk = label_chunk(engine, ctx, (col(Item.position) >= pos) & (col(Item.position) < hi))
        keep = _keep(chunk, flt, classes)
        for j in np.flatnonzero(keep):
            if len(out) == limit:
                return out, encode_cursor(int(chunk.positions[j]))
            out.append(_item_dict(chunk, int(j), classes))
        pos = hi
    return out, (encode_cursor(pos) if pos < ctx.n_items else None)
