"""update inbox, outbox leases and fencing epoch, leader state, task liveness

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "update_inbox",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("received_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("handled_at", bot.store.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_update_inbox")),
    )
    op.create_index(
        op.f("ix_update_inbox_received_at"), "update_inbox", ["received_at"], unique=False
    )
    op.create_index("ix_update_inbox_pending", "update_inbox", ["handled_at", "update_id"])
    # every update id seen so far was handled
    op.execute(
        "INSERT INTO update_inbox (update_id, received_at, handled_at) "
        "SELECT update_id, processed_at, processed_at FROM processed_updates"
    )
    op.drop_index(op.f("ix_processed_updates_processed_at"), table_name="processed_updates")
    op.drop_table("processed_updates")

    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("epoch", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("lease_until", bot.store.models.UTCDateTime(), nullable=True))

    op.create_table(
        "leader_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("lease_until", bot.store.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leader_state")),
    )
    op.create_table(
        "task_liveness",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("last_ok", bot.store.models.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("error_at", bot.store.models.UTCDateTime(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("updated_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_task_liveness")),
    )


def downgrade() -> None:
    op.drop_table("task_liveness")
    op.drop_table("leader_state")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("epoch")
    op.create_table(
        "processed_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("processed_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_processed_updates")),
    )
    op.create_index(
        op.f("ix_processed_updates_processed_at"),
        "processed_updates",
        ["processed_at"],
        unique=False,
    )
    op.execute(
        "INSERT INTO processed_updates (update_id, processed_at) "
        "SELECT update_id, received_at FROM update_inbox"
    )
    op.drop_index("ix_update_inbox_pending", table_name="update_inbox")
    op.drop_index(op.f("ix_update_inbox_received_at"), table_name="update_inbox")
    op.drop_table("update_inbox")
