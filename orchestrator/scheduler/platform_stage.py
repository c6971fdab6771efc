"""The round runner's crowd stage on top of :mod:`orchestrator.crowd`, for any
:class:`~orchestrator.crowd.platform.CrowdPlatform` (MTurk production, its sandbox or the local
simulator: the same boto3 client with another endpoint).

Workers see an item's image (an ``s3://`` image through a presigned URL valid for the HIT's
whole life, see :mod:`orchestrator.crowd.image_links`), else its text, else its table of named
values stored at import (:mod:`orchestrator.data.display`); pixel datasets without a table are
drawn as a grayscale PNG (data URI) from the stored features. Never a bare id.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence

import numpy as np
from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestrator.crowd.campaign_crowd import CampaignCrowd
from orchestrator.crowd.cancel import cancel_campaign
from orchestrator.crowd.collect import collect_answers
from orchestrator.crowd.identity import item_key
from orchestrator.crowd.image_links import ImageLinks, image_link_lifetime_s
from orchestrator.crowd.ledger import BudgetExceededError
from orchestrator.crowd.money import MAX_ASSIGNMENTS_PER_HIT, MoneyError
from orchestrator.crowd.more_answers import request_more_answers
from orchestrator.crowd.platform import CrowdPlatform
from orchestrator.crowd.publish import ItemViewBuilder, publish_items, resume_publishing
from orchestrator.crowd.render import ItemView, TaskRenderer, grayscale_png_data_uri
from orchestrator.crowd.settle import default_decisions, settle_assignments
from orchestrator.data.dataset import LabeledData
from orchestrator.data.display import MAX_DEFAULT_FIELDS, format_value
from orchestrator.data.store import load_dataset
from orchestrator.db.models import (
    Answer,
    Assignment,
    Campaign,
    FeatureKind,
    Hit,
    HitStatus,
    Item,
    Round,
    Worker,
)
from orchestrator.scheduler.crowd_stage import CrowdAnswer, HitTarget, PollReport

log = logging.getLogger(__name__)
_PUBLISH_RETRIES = 5


class PlatformStage:
    """:class:`~orchestrator.scheduler.crowd_stage.CrowdStage` backed by a CrowdPlatform."""

    def __init__(
        self,
        engine: Engine,
        platform: CrowdPlatform,
        *,
        data: LabeledData | None = None,
        renderer: TaskRenderer | None = None,
        image_links: ImageLinks | None = None,
    ) -> None:
        """``image_links``: presigns ``s3://`` images (default: built from the settings the
        first time an item needs it)."""
        self.engine = engine
        self.platform = platform
        if renderer is None:
            from orchestrator.settings import get_settings

            loopback = get_settings().images.allow_loopback_http
            renderer = TaskRenderer(allow_loopback_http=loopback)
        self.renderer = renderer
        self._image_links = image_links
        self._data = data

    def _dataset(self, campaign_id: uuid.UUID) -> LabeledData:
        if self._data is None:
            with Session(self.engine) as s:
                campaign = s.get(Campaign, campaign_id)
                if campaign is None:
                    raise LookupError(f"no campaign {campaign_id}")
                dataset_id = campaign.dataset_id
            self._data = load_dataset(self.engine, dataset_id)
        return self._data

    def _crowd(self, campaign_id: uuid.UUID) -> CampaignCrowd:
        # loaded per call, not cached: a call sees the campaign's options as they are now
        return CampaignCrowd.load(self.engine, self.platform, campaign_id)

    def _links(self) -> ImageLinks:
        if self._image_links is None:
            from orchestrator.crowd.image_links import PresignedS3Links
            from orchestrator.storage.presign_client import presigning_s3_client

            self._image_links = PresignedS3Links(presigning_s3_client())
        return self._image_links

    def _view_builder(self, campaign_id: uuid.UUID) -> ItemViewBuilder:
        data = self._dataset(campaign_id)
        side = round(float(np.sqrt(data.features.shape[1])))
        is_square_image = (
            data.feature_kind == FeatureKind.PIXELS and side * side == data.features.shape[1]
        )
        display = data.display
        valid_for_s = image_link_lifetime_s(self._crowd(campaign_id).config)

        suggestions = self._suggestions(campaign_id, data)

        def build(item: Item, options: Sequence[str], current_label: str) -> ItemView:
            image_src = item.image_path
            if image_src is not None and image_src.startswith("s3://"):
                image_src = self._links().url_for(image_src, valid_for_s=valid_for_s)
            fields: list[tuple[str, str]] = []
            if display is not None:
                fields = list(zip(display.columns, display.values[item.position], strict=True))
            if image_src is None and not fields and is_square_image:
                pixels = data.features[item.position].reshape(side, side)
                image_src = grayscale_png_data_uri(pixels.tolist(), scale=max(1, 96 // side))
            text = item.text
            if image_src is None and not text and not fields:
                # a dataset stored before display values existed (migration 0007)
                row = data.features[item.position][:MAX_DEFAULT_FIELDS]
                fields = [(f"feature[{j}]", format_value(float(v))) for j, v in enumerate(row)]
            suggested = suggestions.get(str(item.id))
            return ItemView(
                key=item_key(item),
                current_label=current_label,
                options=list(options),
                text=text,
                image_src=image_src,
                fields=fields,
                fields_omitted=display.omitted if display is not None else 0,
                extra={"suggested_label": suggested} if suggested in options else {},
            )

        return build

    def _suggestions(self, campaign_id: uuid.UUID, data: LabeledData) -> Mapping[str, str]:
        """Item id → the model's suggested label, when the campaign shows suggestions."""
        from orchestrator.campaigns.config import CampaignConfig
        from orchestrator.data.store import item_ids_by_position
        from orchestrator.scheduler.model_votes import model_labels
        from orchestrator.storage.artifacts import open_artifact_dir

        with Session(self.engine) as s:
            campaign = s.get(Campaign, campaign_id)
            if campaign is None or not CampaignConfig.from_stored(campaign.config).show_suggestion:
                return {}
            dirs = s.exec(select(Round.artifact_dir).where(Round.campaign_id == campaign_id)).all()
        ids = item_ids_by_position(self.engine, campaign.dataset_id)
        labels = model_labels([open_artifact_dir(d) for d in dirs], ids, data.classes)
        return {str(k): str(v) for k, v in labels.items()}

    def publish(
        self,
        campaign_id: uuid.UUID,
        round_id: uuid.UUID,
        item_ids: Sequence[HitTarget],
    ) -> int:
        crowd = self._crowd(campaign_id)
        report = publish_items(
            crowd,
            round_id,
            list(item_ids),
            renderer=self.renderer,
            item_view=self._view_builder(campaign_id),
        )
        created = report.created + report.recovered
        for _ in range(_PUBLISH_RETRIES):
            if not report.pending:
                break
            report = resume_publishing(
                crowd, renderer=self.renderer, item_view=self._view_builder(campaign_id)
            )
            created += report.created + report.recovered
        if report.skipped_over_budget:
            log.warning("%d items did not fit under the cap", len(report.skipped_over_budget))
        return created

    def poll(self, campaign_id: uuid.UUID, round_id: uuid.UUID) -> PollReport:
        with Session(self.engine) as s:
            intents = s.exec(
                select(Hit.id).where(Hit.campaign_id == campaign_id, Hit.status == HitStatus.INTENT)
            ).first()
        crowd = self._crowd(campaign_id)
        if intents is not None:  # a crash or an outage left unsent HITs: send them first
            resume_publishing(
                crowd, renderer=self.renderer, item_view=self._view_builder(campaign_id)
            )
        report = collect_answers(crowd, round_id=round_id)
        return PollReport(report.new_answers, len(report.outstanding_hits))

    def answers(self, campaign_id: uuid.UUID) -> list[CrowdAnswer]:
        """Usable answers on the campaign's items, gold checks and excluded workers left out.

        A worker who failed the gold checks (``Worker.blocked_reason`` set by the crowd layer,
        blocked or only excluded by qualification) gave answers the aggregator would otherwise
        weigh like anyone's; with a handful of answers per worker, the gold record is better
        evidence of their accuracy than the aggregator's agreement estimate. The block is
        requester-wide on MTurk, so a worker excluded in one campaign counts in none.
        """
        with Session(self.engine) as s:
            rows = s.exec(
                select(
                    Answer.item_id, Worker.platform_worker_id, Answer.label, Answer.assignment_pk
                )
                .join(Worker, col(Worker.id) == col(Answer.worker_pk))
                .join(Assignment, col(Assignment.id) == col(Answer.assignment_pk))
                .join(Hit, col(Hit.id) == col(Assignment.hit_pk))
                .where(
                    Answer.campaign_id == campaign_id,
                    col(Answer.label).is_not(None),
                    col(Hit.is_gold_check).is_(False),
                    col(Worker.blocked).is_(False),
                    col(Worker.blocked_reason).is_(None),
                )
            ).all()
        return [CrowdAnswer(i, w, str(lab), a) for i, w, lab, a in rows]

    def request_more(
        self, campaign_id: uuid.UUID, round_id: uuid.UUID, extra: Mapping[uuid.UUID, int]
    ) -> int:
        """A pair HIT's extra assignment answers both its items: it is bought once, for as many
        answers as the more wanting item asks."""
        requested = 0
        crowd = self._crowd(campaign_id)
        for hit, n in self._latest_hits(campaign_id, extra).values():
            if hit.max_assignments + n > MAX_ASSIGNMENTS_PER_HIT:
                continue
            try:
                request_more_answers(crowd, hit.id, n)
            except (BudgetExceededError, MoneyError) as exc:
                log.info("no extra answers on HIT %s: %s", hit.id, exc)
                continue
            requested += n
        return requested

    def _latest_hits(
        self, campaign_id: uuid.UUID, extra: Mapping[uuid.UUID, int]
    ) -> dict[uuid.UUID, tuple[Hit, int]]:
        """Hit pk → (each wanted item's latest published HIT, the answers to ask of it)."""
        with Session(self.engine) as s:
            hits = s.exec(
                select(Hit).where(
                    Hit.campaign_id == campaign_id,
                    or_(col(Hit.item_id).in_(list(extra)), col(Hit.pair_item_id).in_(list(extra))),
                    col(Hit.is_gold_check).is_(False),
                    col(Hit.hit_id).is_not(None),
                )
            ).all()
        latest: dict[uuid.UUID, Hit] = {}
        for h in hits:
            for item_id in (h.item_id, h.pair_item_id):
                if (
                    item_id is not None
                    and item_id in extra
                    and (item_id not in latest or h.attempt > latest[item_id].attempt)
                ):
                    latest[item_id] = h
        out: dict[uuid.UUID, tuple[Hit, int]] = {}
        for item_id, hit in latest.items():
            n = max(extra[item_id], out[hit.id][1] if hit.id in out else 0)
            out[hit.id] = (hit, n)
        return out

    def settle(self, campaign_id: uuid.UUID) -> None:
        crowd = self._crowd(campaign_id)
        settle_assignments(crowd, default_decisions(crowd))

    def cancel(self, campaign_id: uuid.UUID) -> None:
        cancel_campaign(self._crowd(campaign_id))
