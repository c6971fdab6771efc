"""display values of tabular and vector items

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 19:00:00

An item with neither text nor image reached workers as "Item <id>", which nobody can judge. The
named values shown instead are chosen at import and stored here, so a HIT can be rendered later
on any host from the database alone: the column names (and how many a default table left out)
once per dataset in ``dataset.display``, each item's values in ``item.display_values``.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('dataset', schema=None) as batch_op:
        batch_op.add_column(sa.Column('display', sa.JSON(), nullable=True))
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('display_values', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_column('display_values')
    with op.batch_alter_table('dataset', schema=None) as batch_op:
        batch_op.drop_column('display')
