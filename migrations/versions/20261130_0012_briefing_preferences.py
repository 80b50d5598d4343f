"""each account's morning briefing: how often, when, muted until

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("telegram_users") as batch:
        batch.add_column(
            sa.Column("briefing_mode", sa.String(length=16), server_default="daily", nullable=False)
        )
        batch.add_column(sa.Column("briefing_at", sa.String(length=5), nullable=True))
        batch.add_column(sa.Column("briefing_muted_until", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("telegram_users") as batch:
        batch.drop_column("briefing_muted_until")
        batch.drop_column("briefing_at")
        batch.drop_column("briefing_mode")
