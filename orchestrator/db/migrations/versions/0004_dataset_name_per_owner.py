"""dataset names unique per owner

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 12:20:00

The global unique index on ``dataset.name`` let one requester learn that another's dataset name
existed ("already exists"), and made two requesters' uploads of the same name conflict. Names
become unique per owner: a unique index on ``(coalesce(owner, ''), name)`` (operator datasets,
``owner`` NULL, share the owner ''); ``name`` keeps a plain index for lookups.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('dataset', schema=None) as batch_op:
        batch_op.drop_index('ix_dataset_name')
        batch_op.create_index('ix_dataset_name', ['name'], unique=False)
    op.create_index(
        'uq_dataset_owner_name',
        'dataset',
        [sa.text("coalesce(owner, '')"), 'name'],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index('uq_dataset_owner_name', table_name='dataset')
    with op.batch_alter_table('dataset', schema=None) as batch_op:
        batch_op.drop_index('ix_dataset_name')
        batch_op.create_index('ix_dataset_name', ['name'], unique=True)
