"""tracking_since per org; whether a collection's prompt could reach each member asked

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 14:00:00

An org is judged only from the day the bot began to keep its calendar: orgs already stored
get the day they were first imported (their created_at, in their own time zone). Targets of
collections already sent are taken as reached (nothing recorded says otherwise).
"""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orgs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tracking_since", sa.Date(), nullable=True))
    with op.batch_alter_table("collection_targets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reached", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    orgs = sa.table(
        "orgs",
        sa.column("id", sa.Integer),
        sa.column("timezone", sa.String),
        sa.column("created_at", sa.DateTime),
        sa.column("tracking_since", sa.Date),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(orgs.c.id, orgs.c.timezone, orgs.c.created_at)).all()
    for org_id, zone, created in rows:
        moment = created if created.tzinfo else created.replace(tzinfo=UTC)
        day = moment.astimezone(ZoneInfo(zone)).date()
        bind.execute(orgs.update().where(orgs.c.id == org_id).values(tracking_since=day))


def downgrade() -> None:
    with op.batch_alter_table("collection_targets", schema=None) as batch_op:
        batch_op.drop_column("reached")
    with op.batch_alter_table("orgs", schema=None) as batch_op:
        batch_op.drop_column("tracking_since")
