"""The authorization matrix, at the services: every use-case a manager or an admin performs
checks the actor itself, so the chat, the CLI and any later front end get the same answer.
A plain member and the secretary of another branch are refused and nothing changes; the
branch's own secretary gets past the check (what follows may still decline, e.g. an /ask
with no draft to send)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.delivery import meeting_texts
from bot.exports import ledger
from bot.services import collections, invites, meetings, obligations, progress, reports, roster
from bot.services.access import Actor, Declined, NotAllowed
from bot.services.assessment import assessed_for
from bot.services.roster import read_workbook
from bot.store.db import Database
from bot.store.models import (
    AuditEntry,
    Collection,
    InviteToken,
    Meeting,
    Member,
    ObligationSetting,
    Org,
    OutboxMessage,
)
from tests.helpers import acting, two_branches, workbook_bytes

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
SECRETARY, MEMBER, OTHER_SECRETARY = 6001, 6002, 6003
TERMS = invites.Terms("zhibu_test_bot", NOW, 7)

UseCase = Callable[[Database, Actor, dict[str, int]], Awaitable[object]]

MANAGER_USE_CASES: dict[str, UseCase] = {
    "obligations.switch": lambda db, a, w: obligations.switch(
        db, a, w["zb"], "theme_day", enabled=False, reason="本月与党课合并召开", now=NOW
    ),
    "obligations.choose_theme_rule": lambda db, a, w: obligations.choose_theme_rule(
        db, a, w["zb"], None, now=NOW
    ),
    "obligations.toggle_checkin_mode": lambda db, a, w: obligations.toggle_checkin_mode(
        db, a, w["zb"], now=NOW
    ),
    "invites.invite_page": lambda db, a, w: invites.invite_page(
        db, a, w["zb"], 0, size=8, terms=TERMS
    ),
    "invites.member_link": lambda db, a, w: invites.member_link(db, a, w["m2"], terms=TERMS),
    "invites.join_link": lambda db, a, w: invites.join_link(db, a, w["zb"], terms=TERMS),
    "invites.roster": lambda db, a, w: invites.roster(db, a, w["zb"]),
    "progress.status_of": lambda db, a, w: progress.status_of(db, a, w["zb"], now=NOW),
    "collections.recent_for": lambda db, a, w: collections.recent_for(
        db, a, w["zb"], now=NOW, tz="Asia/Shanghai"
    ),
    "collections.audience_counts": lambda db, a, w: collections.audience_counts(db, a, w["zb"]),
    "collections.send": lambda db, a, w: collections.send(
        db, a, w["zb"], group_chat_id=None, now=NOW, tz="Asia/Shanghai", default_lang="zh"
    ),
    "meetings.choices": lambda db, a, w: meetings.choices(db, a, w["zb"]),
    "meeting_texts.schedule": lambda db, a, w: meeting_texts.schedule(
        db, a, w["zb"], now=NOW, lang="zh"
    ),
    "ledger.workbook_for": lambda db, a, w: ledger.workbook_for(db, a, "ZB", 2026, now=NOW),
}
NO_DRAFT = {"collections.send": "ask.expired", "meeting_texts.schedule": "meet.expired"}
ADMIN_USE_CASES: dict[str, UseCase] = {
    "progress.overview_for": lambda db, a, w: progress.overview_for(db, a, now=NOW),
    "assessment.assessed_for": lambda db, a, w: assessed_for(db, a, 2026, now=NOW),
    "roster.import_as": lambda db, a, w: roster.import_as(
        db,
        a,
        *read_workbook(workbook_bytes([["ZB", "第一党支部", "", "党支部", ""]], [])),
        now=NOW,
        default_timezone="Asia/Shanghai",
        importer=roster.Importer.of("chat", "r.xlsx", b"x", telegram_id=a.telegram_id),
    ),
}


@pytest.fixture
async def world(db: Database) -> dict[str, int]:
    await two_branches(
        db,
        NOW - timedelta(days=1),
        secretary=SECRETARY,
        member=MEMBER,
        other_secretary=OTHER_SECRETARY,
    )
    async with db.read() as session:
        zb = await session.scalar(select(Org.id).where(Org.code == "ZB"))
        m2 = await session.scalar(select(Member.id).where(Member.member_code == "M2"))
    assert zb is not None and m2 is not None
    return {"zb": zb, "m2": m2}


actor = acting


async def stored(db: Database) -> tuple[object, ...]:
    """What a refused use-case must leave as it was."""
    async with db.read() as session:
        counts = [
            int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (
                AuditEntry,
                OutboxMessage,
                InviteToken,
                ObligationSetting,
                Meeting,
                Collection,
                Member,
            )
        ]
        org = (
            await session.execute(
                select(Org.checkin_mode, Org.theme_day_rule).where(Org.code == "ZB")
            )
        ).one()
    return (*counts, *org)


@pytest.mark.parametrize("who", [MEMBER, OTHER_SECRETARY])
@pytest.mark.parametrize("case", sorted(MANAGER_USE_CASES))
async def test_a_branchs_use_cases_refuse_everyone_but_its_managers(
    db: Database, world: dict[str, int], who: int, case: str
) -> None:
    before = await stored(db)
    with pytest.raises(NotAllowed):
        await MANAGER_USE_CASES[case](db, await actor(db, who), world)
    assert await stored(db) == before


@pytest.mark.parametrize("case", sorted(MANAGER_USE_CASES))
async def test_the_branchs_secretary_gets_past_the_check(
    db: Database, world: dict[str, int], case: str
) -> None:
    secretary = await actor(db, SECRETARY)
    if case not in NO_DRAFT:
        await MANAGER_USE_CASES[case](db, secretary, world)
        return
    with pytest.raises(Declined) as declined:  # past the check: there is no draft to use
        await MANAGER_USE_CASES[case](db, secretary, world)
    assert declined.value.key == NO_DRAFT[case]


@pytest.mark.parametrize("who", [MEMBER, SECRETARY])
@pytest.mark.parametrize("case", sorted(ADMIN_USE_CASES))
async def test_admin_use_cases_refuse_members_and_secretaries(
    db: Database, world: dict[str, int], who: int, case: str
) -> None:
    before = await stored(db)
    with pytest.raises(NotAllowed) as refused:
        await ADMIN_USE_CASES[case](db, await actor(db, who), world)
    assert refused.value.key in ("common.admins_only", "import.admins_only")
    assert await stored(db) == before


async def test_a_meeting_record_is_filed_by_the_branchs_managers_only(
    db: Database, world: dict[str, int]
) -> None:
    with pytest.raises(NotAllowed):
        await reports.may_record(db, await actor(db, MEMBER))
    await reports.may_record(db, await actor(db, SECRETARY))
