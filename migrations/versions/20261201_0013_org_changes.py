"""a log of which org's data changed, written by triggers; briefings held for their moment

Every insert, update or delete of what a briefing reads adds the org it concerns to
``org_changes`` (NULL: it may concern anyone — the org tree, admins, holidays); a linked
account's language or briefing choices, its branch (an admin's language the tick compares
itself). The tick prepares a moment's briefings minutes before it and,
at the moment, works out again only the orgs logged since (``bot.store.changes``).
The briefings worked out ahead wait in the outbox as ``held`` rows, with the moment
(``held_for``) they are released at.
Triggers rather than the services: a write by any path (the CLI, a restore, another process)
is logged. A later migration that rebuilds one of these tables on SQLite must create its
triggers again (``tests/bot/store/test_changes.py`` checks every table has them).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.models import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

EVERYONE = "NULL"
ACCOUNT_ORG = (  # an account's branch, if it is linked (an admin's language: see the tick)
    "INSERT INTO org_changes (org_id) SELECT m.org_id FROM telegram_links l"
    " JOIN members m ON m.id = l.member_id WHERE l.telegram_user_id = NEW.id"
)
# table -> the org a row concerns, as an SQL expression over {r} (NEW or OLD)
WATCHED: dict[str, str] = {
    "orgs": EVERYONE,
    "org_admins": EVERYONE,
    "holiday_years": EVERYONE,
    "holiday_days": EVERYONE,
    "members": "{r}.org_id",
    "telegram_links": "(SELECT org_id FROM members WHERE id = {r}.member_id)",
    "obligation_settings": "{r}.org_id",
    "custom_obligations": "{r}.org_id",
    "records": "{r}.org_id",
    "record_obligations": "(SELECT org_id FROM records WHERE id = {r}.record_id)",
    "meetings": "{r}.org_id",
    "attendance": "(SELECT org_id FROM meetings WHERE id = {r}.meeting_id)",
    "collections": "{r}.org_id",
    "collection_targets": "(SELECT org_id FROM collections WHERE id = {r}.collection_id)",
}
# telegram_users: a new account, and what a briefing reads of one when it changed
ACCOUNT_COLUMNS = (
    "language",
    "telegram_language",
    "briefing_mode",
    "briefing_at",
    "briefing_muted_until",
)


def _sqlite(table: str, expr: str) -> list[str]:
    new, old = expr.format(r="NEW"), expr.format(r="OLD")
    name = f"org_changes_{table}"
    return [
        f"CREATE TRIGGER {name}_i AFTER INSERT ON {table} "
        f"BEGIN INSERT INTO org_changes (org_id) VALUES ({new}); END",
        f"CREATE TRIGGER {name}_u AFTER UPDATE ON {table} "
        f"BEGIN INSERT INTO org_changes (org_id) SELECT {new} UNION SELECT {old}; END",
        f"CREATE TRIGGER {name}_d AFTER DELETE ON {table} "
        f"BEGIN INSERT INTO org_changes (org_id) VALUES ({old}); END",
    ]


def _postgres(table: str, expr: str) -> list[str]:
    new, old = (f"CAST({expr.format(r=r)} AS INTEGER)" for r in ("NEW", "OLD"))
    name = f"org_changes_{table}"
    return [
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP = 'INSERT' THEN INSERT INTO org_changes (org_id) VALUES ({new}); "
        f"ELSIF TG_OP = 'DELETE' THEN INSERT INTO org_changes (org_id) VALUES ({old}); "
        f"ELSE INSERT INTO org_changes (org_id) SELECT DISTINCT x FROM "
        f"(VALUES ({new}), ({old})) AS v(x); END IF; RETURN NULL; END $$",
        f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {name}()",
    ]


def _accounts(postgres: bool) -> list[str]:
    name = "org_changes_telegram_users"
    if postgres:
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in ACCOUNT_COLUMNS)
        return [
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"{ACCOUNT_ORG}; RETURN NULL; END $$",
            f"CREATE TRIGGER {name} AFTER UPDATE ON telegram_users FOR EACH ROW "
            f"WHEN ({changed}) EXECUTE FUNCTION {name}()",
            f"CREATE TRIGGER {name}_i AFTER INSERT ON telegram_users FOR EACH ROW "
            f"EXECUTE FUNCTION {name}()",
        ]
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in ACCOUNT_COLUMNS)
    log = f"BEGIN {ACCOUNT_ORG}; END"
    return [
        f"CREATE TRIGGER {name}_u AFTER UPDATE ON telegram_users WHEN {changed} {log}",
        f"CREATE TRIGGER {name}_i AFTER INSERT ON telegram_users {log}",
    ]


def upgrade() -> None:
    op.create_table(
        "org_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),  # no foreign key: orgs may go
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_changes")),
        sqlite_autoincrement=True,  # ids never reused: a mark stays meaningful
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("held_for", UTCDateTime(), nullable=True))
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, expr in WATCHED.items():
        for sql in (_postgres if postgres else _sqlite)(table, expr):
            op.execute(sql)
    for sql in _accounts(postgres):
        op.execute(sql)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in [*WATCHED, "telegram_users"]:
        name = f"org_changes_{table}"
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {name}_i ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            for suffix in ("_i", "_u", "_d"):
                op.execute(f"DROP TRIGGER IF EXISTS {name}{suffix}")
    op.drop_table("org_changes")
    op.execute("DELETE FROM outbox WHERE status = 'held'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("held_for")
