"""The crowd boundary: HITs on Amazon Mechanical Turk (or anything speaking its API).

Platform (``orchestrator.crowd.platform`` / ``.mturk``)::

    CrowdPlatform                      # protocol; errors: TransientPlatformError, AlreadyDoneError,
                                       # NotReadyError, InvalidRequestError (all PlatformError)
    MTurkPlatform.connect(endpoint_url=None, *, region_name="us-east-1",
                          aws_access_key_id=None, aws_secret_access_key=None,
                          max_requests_per_second=5.0) -> MTurkPlatform
    MTurkPlatform.from_settings(get_settings().mturk) -> MTurkPlatform

One campaign's crowd (``orchestrator.crowd.campaign_crowd``): every job below works on a
:class:`CampaignCrowd`, the campaign, its crowd options and the platform, read once::

    crowd = CampaignCrowd.load(engine, platform, campaign_id)

The jobs, one module each (every function opens its own sessions, is idempotent and safe to
re-run after a crash)::

    publish       publish_items(crowd, round_id, item_ids, *, renderer, attempt=0,
                                gold_rate=None, current_labels=None, item_view=None,
                                check_balance=True) -> PublishReport
                                # an item id, or a (first, second) pair: one pair HIT
                  resume_publishing(crowd, *, renderer, ...) -> PublishReport
    collect       collect_answers(crowd, *, round_id=None) -> CollectReport
    more_answers  request_more_answers(crowd, hit_pk, n_extra) -> Hit
    settle        default_decisions(crowd, *, reject_failed_gold=False) -> list[Decision]
                  settle_assignments(crowd, decisions) -> SettleReport
    bonus         send_bonus(crowd, assignment_pk, amount_usd, reason, *, idempotency_key)
                      -> BonusResult
    cancel        cancel_campaign(crowd, *, approve_submitted=True) -> CancelReport
                  reconcile_campaign(engine, platform, campaign_id=None, *,
                                     dispose_orphans=False) -> ReconcileReport
                  notify_campaign_workers(crowd, subject, message) -> dict[str, str]
    ledger        campaign_spend(engine, campaign_id) -> SpendSummary
    identity      unique_request_token, pair_request_token, requester_annotation,
                  parse_annotation, item_key
    gold, workers which gold items a round mixes in; worker rows and gold-based exclusion

Money (``orchestrator.crowd.money``): ``estimate_cost(n_items, assignments_per_item, reward,
*, gold_rate=0.0) -> CostEstimate``, ``validate_usd``, ``pair_reward`` (a pair HIT's: two
items'), ``FEE_RATE`` (20 %), max 9 assignments.

Rendering (``orchestrator.crowd.render``): ``TaskRenderer(templates_dir=None, *,
frame_height=0).render_item(ItemView) -> str`` (HTMLQuestion XML), ``render_html``,
``render_question``, ``grayscale_png_data_uri`` for pixel datasets.

Answers (``orchestrator.crowd.answers``): ``parse_answer(xml, options) -> ParsedAnswer``
(never raises).

Per-campaign options: ``Campaign.config["crowd"]`` → :class:`CrowdConfig`.
"""

from orchestrator.crowd.answers import ParsedAnswer, parse_answer
from orchestrator.crowd.bonus import BonusResult, send_bonus
from orchestrator.crowd.campaign_crowd import CampaignCrowd
from orchestrator.crowd.cancel import (
    CancelReport,
    ReconcileReport,
    cancel_campaign,
    notify_campaign_workers,
    reconcile_campaign,
)
from orchestrator.crowd.collect import CollectReport, collect_answers
from orchestrator.crowd.config import CrowdConfig
from orchestrator.crowd.identity import unique_request_token
from orchestrator.crowd.ledger import BudgetExceededError, SpendSummary, campaign_spend
from orchestrator.crowd.money import (
    FEE_RATE,
    MAX_ASSIGNMENTS_PER_HIT,
    CostEstimate,
    MoneyError,
    estimate_cost,
    validate_usd,
)
from orchestrator.crowd.more_answers import request_more_answers
from orchestrator.crowd.mturk import PRODUCTION_ENDPOINT, SANDBOX_ENDPOINT, MTurkPlatform
from orchestrator.crowd.platform import (
    AlreadyDoneError,
    BonusRequest,
    CrowdPlatform,
    InvalidRequestError,
    NotReadyError,
    PlatformError,
    TransientPlatformError,
)
from orchestrator.crowd.publish import (
    InsufficientBalanceError,
    PublishReport,
    publish_items,
    resume_publishing,
)
from orchestrator.crowd.render import ItemView, TaskRenderer, WorkedExample
from orchestrator.crowd.settle import (
    Decision,
    SettleReport,
    default_decisions,
    settle_assignments,
)

__all__ = [
    "FEE_RATE",
    "MAX_ASSIGNMENTS_PER_HIT",
    "PRODUCTION_ENDPOINT",
    "SANDBOX_ENDPOINT",
    "AlreadyDoneError",
    "BonusRequest",
    "BonusResult",
    "BudgetExceededError",
    "CampaignCrowd",
    "CancelReport",
    "CollectReport",
    "CostEstimate",
    "CrowdConfig",
    "CrowdPlatform",
    "Decision",
    "InsufficientBalanceError",
    "InvalidRequestError",
    "ItemView",
    "MTurkPlatform",
    "MoneyError",
    "NotReadyError",
    "ParsedAnswer",
    "PlatformError",
    "PublishReport",
    "ReconcileReport",
    "SettleReport",
    "SpendSummary",
    "TaskRenderer",
    "TransientPlatformError",
    "WorkedExample",
    "campaign_spend",
    "cancel_campaign",
    "collect_answers",
    "default_decisions",
    "estimate_cost",
    "notify_campaign_workers",
    "parse_answer",
    "publish_items",
    "reconcile_campaign",
    "request_more_answers",
    "resume_publishing",
    "send_bonus",
    "settle_assignments",
    "unique_request_token",
    "validate_usd",
]
