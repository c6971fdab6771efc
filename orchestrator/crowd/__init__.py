"""The crowd boundary: HITs on Amazon Mechanical Turk (or anything speaking its API).

Platform (``orchestrator.crowd.platform`` / ``.mturk``)::

    CrowdPlatform                      # protocol; errors: TransientPlatformError, AlreadyDoneError,
                                       # NotReadyError, InvalidRequestError (all PlatformError)
    MTurkPlatform.connect(endpoint_url=None, *, region_name="us-east-1",
                          aws_access_key_id=None, aws_secret_access_key=None,
                          max_requests_per_second=5.0) -> MTurkPlatform
    MTurkPlatform.from_settings(get_settings().mturk) -> MTurkPlatform

Task manager (``orchestrator.crowd.manager``; every function opens its own sessions, is
idempotent and safe to re-run after a crash)::

    publish_items(engine, platform, campaign_id, round_id, item_ids, *, renderer, attempt=0,
                  gold_rate=None, current_labels=None, item_view=None, check_balance=True)
        -> PublishReport(hits, created, recovered, pending, failed, skipped_over_budget, ...)
    resume_publishing(engine, platform, campaign_id, *, renderer, ...) -> PublishReport
    collect_answers(engine, platform, campaign_id, *, round_id=None)
        -> CollectReport(new_answers, outstanding_hits, completed_hits, answers_per_item,
                         blocked_workers, pending_decisions, ..., done)
    request_more_answers(engine, platform, hit_pk, n_extra) -> Hit
    default_decisions(engine, campaign_id, *, reject_failed_gold=False) -> list[Decision]
    settle_assignments(engine, platform, campaign_id, decisions) -> SettleReport
    send_bonus(engine, platform, assignment_pk, amount_usd, reason, *, idempotency_key)
        -> BonusResult
    campaign_spend(engine, campaign_id) -> SpendSummary
    cancel_campaign(engine, platform, campaign_id, *, approve_submitted=True) -> CancelReport
    reconcile_campaign(engine, platform, campaign_id=None, *, dispose_orphans=False)
        -> ReconcileReport

Money (``orchestrator.crowd.money``): ``estimate_cost(n_items, assignments_per_item, reward,
*, gold_rate=0.0) -> CostEstimate``, ``validate_usd``, ``FEE_RATE`` (20 %), max 9 assignments.

Rendering (``orchestrator.crowd.render``): ``TaskRenderer(templates_dir=None, *,
frame_height=0).render_item(ItemView) -> str`` (HTMLQuestion XML), ``render_html``,
``render_question``, ``grayscale_png_data_uri`` for pixel datasets.

Answers (``orchestrator.crowd.answers``): ``parse_answer(xml, options) -> ParsedAnswer``
(never raises).

Per-campaign options: ``Campaign.config["crowd"]`` → :class:`CrowdConfig`.
"""

from orchestrator.crowd.answers import ParsedAnswer, parse_answer
from orchestrator.crowd.ledger import BudgetExceededError, SpendSummary, campaign_spend
from orchestrator.crowd.manager import (
    BonusResult,
    CancelReport,
    CollectReport,
    CrowdConfig,
    Decision,
    InsufficientBalanceError,
    PublishReport,
    ReconcileReport,
    SettleReport,
    cancel_campaign,
    collect_answers,
    default_decisions,
    publish_items,
    reconcile_campaign,
    request_more_answers,
    resume_publishing,
    send_bonus,
    settle_assignments,
    unique_request_token,
)
from orchestrator.crowd.money import (
    FEE_RATE,
    MAX_ASSIGNMENTS_PER_HIT,
    CostEstimate,
    MoneyError,
    estimate_cost,
    validate_usd,
)
from orchestrator.crowd.mturk import PRODUCTION_ENDPOINT, SANDBOX_ENDPOINT, MTurkPlatform
from orchestrator.crowd.platform import (
    AlreadyDoneError,
    CrowdPlatform,
    InvalidRequestError,
    NotReadyError,
    PlatformError,
    TransientPlatformError,
)
from orchestrator.crowd.render import ItemView, TaskRenderer, WorkedExample

__all__ = [
    "FEE_RATE",
    "MAX_ASSIGNMENTS_PER_HIT",
    "PRODUCTION_ENDPOINT",
    "SANDBOX_ENDPOINT",
    "AlreadyDoneError",
    "BonusResult",
    "BudgetExceededError",
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
