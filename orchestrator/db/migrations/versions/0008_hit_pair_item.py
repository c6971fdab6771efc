"""pair HITs: a HIT's second item

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 10:00:00

CINCER's ``counter_example`` strategy picks pairs (a suspicious item and its most incompatible
training item) and a campaign publishes one HIT per pair through the pair template. The pair's
first item stays in ``hit.item_id`` (so the one-HIT-per-item-and-attempt constraint covers it);
the second is the new nullable ``hit.pair_item_id``. Existing HITs are single-item: NULL.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('hit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pair_item_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            'fk_hit_pair_item_id_item', 'item', ['pair_item_id'], ['id']
        )
        batch_op.create_index(batch_op.f('ix_hit_pair_item_id'), ['pair_item_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('hit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hit_pair_item_id'))
        batch_op.drop_constraint('fk_hit_pair_item_id_item', type_='foreignkey')
        batch_op.drop_column('pair_item_id')
