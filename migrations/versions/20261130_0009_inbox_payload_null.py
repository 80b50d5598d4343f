"""payloads of answered updates as SQL NULL, not the JSON text 'null'

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 11:00:00

Answered updates had their payload set to Python None, which a JSON column stores as the
text 'null'; "payload IS NOT NULL" then counted every one of them as still owed an answer
(and the restart's look for unanswered updates read a week of them). From now on the store
writes SQL NULL; this turns the ones already written into it.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    as_text = "payload::text" if op.get_bind().dialect.name == "postgresql" else "payload"
    op.execute(f"UPDATE update_inbox SET payload = NULL WHERE {as_text} = 'null'")


def downgrade() -> None:
    pass  # SQL NULL reads back as None, as 'null' did: nothing to undo
