"""Committee admins per org, managed by the operator from the command line."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from bot.services.access import by_code
from bot.store import audit
from bot.store.db import Database
from bot.store.models import Org, OrgAdmin


async def add_admin(
    db: Database, code: str, user_id: int, name: str | None, *, now: datetime
) -> bool:
    async with db.write() as session:
        org = await session.scalar(by_code(code))
        if org is None:
            return False
        exists = await session.scalar(
            select(OrgAdmin).where(OrgAdmin.org_id == org.id, OrgAdmin.telegram_user_id == user_id)
        )
        if exists is None:
            session.add(OrgAdmin(org_id=org.id, telegram_user_id=user_id, name=name, added_at=now))
            await audit.record(
                session, at=now, action="admin.add", org_id=org.id, detail={"user": user_id}
            )
        return True


async def remove_admin(db: Database, code: str, user_id: int, *, now: datetime) -> bool:
    async with db.write() as session:
        org = await session.scalar(by_code(code))
        if org is None:
            return False
        await session.execute(
            delete(OrgAdmin).where(OrgAdmin.org_id == org.id, OrgAdmin.telegram_user_id == user_id)
        )
        await audit.record(
            session, at=now, action="admin.remove", org_id=org.id, detail={"user": user_id}
        )
        return True


async def list_admins(db: Database) -> list[tuple[str, int, str | None]]:
    async with db.read() as session:
        rows = await session.execute(
            select(Org.code, OrgAdmin.telegram_user_id, OrgAdmin.name)
            .join(Org, Org.id == OrgAdmin.org_id)
            .order_by(Org.code, OrgAdmin.telegram_user_id)
        )
        return [(c, u, n) for c, u, n in rows]
