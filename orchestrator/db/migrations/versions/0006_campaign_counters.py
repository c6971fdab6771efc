"""campaign counters

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 19:00:00

The status document recounted a campaign's answers, labels and ledger rows on every request
(19 ms of CPU at 100 k items on SQLite, growing with the campaign). The steps that write those
rows now keep running totals in ``campaign_counters`` in the same transaction; this revision
creates the table, fills it from the rows already there, and indexes answers by
(campaign, worker) for the workers counter.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orchestrator.db.types


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNT_COLUMNS = (
    'n_answers', 'n_items_answered', 'n_workers', 'n_verified', 'n_validation', 'n_propagated'
)
_MONEY_COLUMNS = ('reserved_usd', 'rewards_usd', 'bonuses_usd', 'fees_usd')

# Money is stored as integer 1/10,000 USD, so the sums below are already in the stored unit.
_BACKFILL = """
INSERT INTO campaign_counters (campaign_id, n_answers, n_items_answered, n_workers,
    n_verified, n_validation, n_propagated, reserved_usd, rewards_usd, bonuses_usd, fees_usd)
SELECT c.id,
    (SELECT count(*) FROM answer a WHERE a.campaign_id = c.id),
    (SELECT count(DISTINCT a.item_id) FROM answer a WHERE a.campaign_id = c.id),
    (SELECT count(DISTINCT a.worker_pk) FROM answer a WHERE a.campaign_id = c.id),
    (SELECT count(*) FROM verifiedlabel v WHERE v.campaign_id = c.id),
    (SELECT count(*) FROM verifiedlabel v WHERE v.campaign_id = c.id AND v.is_validation),
    (SELECT count(*) FROM propagatedlabel p WHERE p.campaign_id = c.id),
    (SELECT coalesce(sum(l.amount_usd + l.fee_usd), 0) FROM ledgerentry l
        WHERE l.campaign_id = c.id AND l.kind IN ('HIT_RESERVATION', 'RELEASE')),
    (SELECT coalesce(sum(l.amount_usd), 0) FROM ledgerentry l
        WHERE l.campaign_id = c.id AND l.kind = 'REWARD'),
    (SELECT coalesce(sum(l.amount_usd), 0) FROM ledgerentry l
        WHERE l.campaign_id = c.id AND l.kind = 'BONUS'),
    (SELECT coalesce(sum(l.fee_usd), 0) FROM ledgerentry l
        WHERE l.campaign_id = c.id AND l.kind IN ('REWARD', 'BONUS'))
FROM campaign c
"""


def upgrade() -> None:
    op.create_table(
        'campaign_counters',
        sa.Column('campaign_id', sa.Uuid(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNT_COLUMNS),
        *(
            sa.Column(name, orchestrator.db.types.Money(), nullable=False)
            for name in _MONEY_COLUMNS
        ),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id']),
        sa.PrimaryKeyConstraint('campaign_id'),
    )
    op.create_index(
        'ix_answer_campaign_worker', 'answer', ['campaign_id', 'worker_pk'], unique=False
    )
    op.execute(_BACKFILL)


def downgrade() -> None:
    op.drop_index('ix_answer_campaign_worker', table_name='answer')
    op.drop_table('campaign_counters')
