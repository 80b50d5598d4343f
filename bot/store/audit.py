"""The audit log: every change that matters and every refused action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import AuditEntry


async def record(
    session: AsyncSession,
    *,
    at: datetime,
    action: str,
    outcome: str = "ok",
    actor_telegram_id: int | None = None,
    actor_member_id: int | None = None,
    org_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=at,
            action=action,
            outcome=outcome,
            actor_telegram_id=actor_telegram_id,
            actor_member_id=actor_member_id,
            org_id=org_id,
            detail=detail or {},
        )
    )
