"""The change log (#15): every write to what a briefing reads names the org it concerns, on
SQLite and on PostgreSQL, whoever writes it; what concerns anyone says so."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store import changes
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import (
    Attendance,
    Collection,
    CollectionTarget,
    CustomObligation,
    HolidayYear,
    Meeting,
    Member,
    ObligationSetting,
    Org,
    OrgAdmin,
    Record,
    RecordObligation,
    TelegramLink,
    TelegramUser,
)

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
GW, BRANCH, GROUP, OTHER = 1, 2, 3, 4
Step = Callable[[AsyncSession], Awaitable[object]]


def org(id_: int, kind: str, parent: int | None) -> Org:
    return Org(id=id_, code=f"O{id_}", name=f"组织{id_}", kind=kind, parent_id=parent,
               timezone="Asia/Shanghai", created_at=NOW, updated_at=NOW)  # fmt: skip


async def logged(db: Database, step: Step) -> changes.Changed:
    noted = await changes.mark(db)
    async with db.write() as session:
        await step(session)
    async with db.read() as session:
        return await changes.since(session, noted)


async def orgs_of(db: Database, step: Step) -> set[int | None]:
    found = await logged(db, step)
    return set(found.orgs) | ({None} if found.everyone else set())


async def every_table_logs_its_org(db: Database) -> None:
    def add(*rows: object) -> Step:
        async def step(session: AsyncSession) -> None:
            for row in rows:
                session.add(row)
                await session.flush()

        return step

    def run(statement: object) -> Step:
        return lambda session: session.execute(statement)  # type: ignore[call-overload]

    assert await orgs_of(
        db, add(org(GW, "working_committee", None), org(BRANCH, "branch", GW))
    ) == {None}  # the org tree: anyone
    assert await orgs_of(db, add(org(GROUP, "group", BRANCH), org(OTHER, "branch", GW))) == {None}
    member = Member(id=1, org_id=BRANCH, name="甲", member_code="M1", role="member",
                    active=True, created_at=NOW, updated_at=NOW)  # fmt: skip
    assert await orgs_of(db, add(member)) == {BRANCH}
    link = TelegramLink(member_id=1, telegram_user_id=501, linked_at=NOW, via="test")
    assert await orgs_of(db, add(link)) == {BRANCH}
    assert await orgs_of(db, add(TelegramUser(id=501, first_name="甲", updated_at=NOW))) == {BRANCH}
    assert await orgs_of(db, add(TelegramUser(id=502, first_name="乙", updated_at=NOW))) == set()
    renamed = update(TelegramUser).where(TelegramUser.id == 501).values(username="jia")
    assert await orgs_of(db, run(renamed)) == set()  # nothing a briefing reads
    english = update(TelegramUser).values(language="en")
    assert await orgs_of(db, run(english)) == {BRANCH}  # 502 is in no branch
    muted = update(TelegramUser).where(TelegramUser.id == 501).values(briefing_mode="weekly")
    assert await orgs_of(db, run(muted)) == {BRANCH}
    assert await orgs_of(db, add(OrgAdmin(org_id=GW, telegram_user_id=502, added_at=NOW))) == {None}
    record = Record(id=1, org_id=GROUP, kind="group_meeting", held_on=date(2026, 11, 20),
                    filed_at=NOW)  # fmt: skip
    assert await orgs_of(db, add(record, RecordObligation(record_id=1, code="group_meeting"))) == {
        GROUP
    }
    withdrawn = update(Record).values(withdrawn_at=NOW)
    assert await orgs_of(db, run(withdrawn)) == {GROUP}
    meeting = Meeting(id=1, org_id=BRANCH, obligation="branch_committee", starts_at=NOW,
                      place="会议室", status="scheduled", checkin_mode="button", created_by=501,
                      created_at=NOW)  # fmt: skip
    attended = Attendance(meeting_id=1, member_id=1, status="present", via="button", at=NOW)
    assert await orgs_of(db, add(meeting, attended)) == {BRANCH}
    closed = update(Meeting).values(status="closed", quorum_met=True)
    assert await orgs_of(db, run(closed)) == {BRANCH}
    asked = Collection(id=1, org_id=BRANCH, kind="thought_report", prompt="写", audience="all",
                       deadline=NOW, created_by=501, created_at=NOW)  # fmt: skip
    target = CollectionTarget(collection_id=1, member_id=1)
    assert await orgs_of(db, add(asked, target)) == {BRANCH}
    submitted = update(CollectionTarget).values(submitted_at=NOW)
    assert await orgs_of(db, run(submitted)) == {BRANCH}
    setting = ObligationSetting(org_id=OTHER, code="theme_day", enabled=False, updated_at=NOW)
    custom = CustomObligation(org_id=OTHER, code="c1", title="读书", period="month",
                              created_at=NOW)  # fmt: skip
    assert await orgs_of(db, add(setting, custom)) == {OTHER}
    moved = update(Member).where(Member.id == 1).values(org_id=OTHER)
    assert await orgs_of(db, run(moved)) == {BRANCH, OTHER}  # where they were and are
    away = update(Member).values(away_until=date(2026, 12, 31))
    assert await orgs_of(db, run(away)) == {OTHER}
    assert await orgs_of(db, run(delete(TelegramLink))) == {OTHER}
    holidays = HolidayYear(year=2027, source="国务院办公厅", imported_at=NOW)
    assert await orgs_of(db, add(holidays)) == {None}


async def test_every_write_a_briefing_reads_is_logged_with_its_org(db: Database) -> None:
    await every_table_logs_its_org(db)


async def test_the_log_is_written_on_postgresql_too(pg_url: str) -> None:
    db = Database.from_url(pg_url)
    try:
        await upgrade(db.engine)
        await every_table_logs_its_org(db)
    finally:
        await db.dispose()


async def test_a_mark_older_than_the_log_kept_knows_nothing(db: Database) -> None:
    """Housekeeping keeps the latest rows: changes since a mark it pruned past are not
    knowable, and say so (the moment is then worked out whole)."""
    for k in range(5):
        async with db.write() as session:
            session.add(org(10 + k, "branch", None))
    async with db.write() as session:
        assert await changes.prune(session, keep=2) == 3
    async with db.read() as session:
        assert (await changes.since(session, 1)).everyone
        assert (await changes.since(session, 3)) == changes.Changed(frozenset(), everyone=True)
        assert (await changes.since(session, 5)) == changes.Changed(frozenset(), everyone=False)
