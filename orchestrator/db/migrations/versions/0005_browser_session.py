"""browser sessions for the dashboard

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 12:40:00

The dashboard cookie held the raw API key for 12 hours and logout could not invalidate it. The
cookie now holds a random session token whose digest is stored here (see
``orchestrator.api.sessions``); logout deletes the row, and a revoked key ends its sessions.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import orchestrator.db.types


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'browser_session',
        sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('api_key_id', sa.Uuid(), nullable=False),
        sa.Column('created_at', orchestrator.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', orchestrator.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['api_key_id'], ['apikey.id']),
        sa.PrimaryKeyConstraint('token_hash'),
    )
    op.create_index(
        'ix_browser_session_api_key_id', 'browser_session', ['api_key_id'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_browser_session_api_key_id', table_name='browser_session')
    op.drop_table('browser_session')
