"""The outbox reaches people through the fake Telegram: limits, faults, blocked users, quiet hours."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from sqlalchemy import select, update

from bot.delivery.scheduler import tick
from bot.rules.catalogue import DEFAULT_POLICY
from bot.rules.clock import FrozenClock
from bot.store import outbox
from bot.store.db import Database
from bot.store.models import OutboxMessage, TelegramUser
from bot.store.outbox import NewMessage
from settings import Settings
from tests.fakegram import FakeTelegram, Faults, Limits
from tests.helpers import start_bot


async def fill(db: Database, chats: list[int], now: datetime, text: str = "提醒 {i}") -> None:
    async with db.write() as session:
        await outbox.enqueue(
            session,
            [
                NewMessage(f"test|{i}", "reminder", chat, text.format(i=i), now)
                for i, chat in enumerate(chats)
            ],
            now=now,
        )


async def statuses(db: Database) -> dict[str, int]:
    async with db.read() as session:
        return await outbox.counts(session)


async def settled(db: Database, total: int, timeout: float = 120) -> dict[str, int]:
    """Wait until every row is sent or failed (the outcome is recorded), and return the counts."""
    deadline = time.monotonic() + timeout
    while True:
        counts = await statuses(db)
        if counts["sent"] + counts["failed"] >= total or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.2)


async def test_two_thousand_reminders_under_faults_none_lost(
    fake: FakeTelegram, db: Database, clock: FrozenClock, settings: Settings
) -> None:
    # limits scaled up tenfold on both sides so that the test takes seconds, not minutes
    fake.limits = Limits(overall_per_second=300, private_per_second=5, group_per_minute=200)
    fast = settings.model_copy(
        update={
            "rate_overall_per_second": 300,
            "request_timeout_seconds": 1.0,
            "sender_workers": 32,
        }
    )
    users = [fake.add_user(f"U{i}") for i in range(2000)]
    for u in users:
        u.user.started = True
    await fill(db, [u.id for u in users], clock.now())
    fake.faults = Faults(error_rate=0.10, slow_rate=0.05, slow_seconds=1.5, throttle_rate=0.002,
                         throttle_burst=15, methods={"sendMessage"}, seed=7)  # fmt: skip
    started = time.monotonic()
    running = await start_bot(fake, db, clock, fast)
    try:
        counts = await settled(db, 2000)
    finally:
        await running.stop()
    elapsed = time.monotonic() - started
    received = [len(fake.bot_messages(u.id)) for u in users]
    lost = sum(1 for n in received if n == 0)
    duplicates = sum(n - 1 for n in received if n > 1)
    slow = fake.fault_counts.get("slow", 0)
    print(
        f"\n2000 reminders in {elapsed:.1f}s: lost {lost}, duplicates {duplicates} "
        f"(slow answers {slow}, 5xx {fake.fault_counts.get('error', 0)}, "
        f"429 {fake.fault_counts.get('throttle', 0)})"
    )
    assert lost == 0
    assert duplicates <= slow  # only where a slow answer hid the outcome
    assert (
        fake.fault_counts.get("error", 0) > 100
        and slow > 50
        and fake.fault_counts.get("throttle", 0) > 0
    )
    assert counts["sent"] == 2000 and counts["failed"] == 0


async def test_blocked_users_and_bad_chats_fail_with_a_reason(
    fake: FakeTelegram, db: Database, clock: FrozenClock, settings: Settings
) -> None:
    ok, blocked = fake.add_user("ok"), fake.add_user("blocked")
    ok.user.started = blocked.user.started = True
    blocked.block_bot()
    await fill(db, [ok.id, blocked.id, 424242], clock.now())
    running = await start_bot(fake, db, clock, settings)
    try:
        counts = await settled(db, 3, timeout=20)
    finally:
        await running.stop()
    assert counts["sent"] == 1 and counts["failed"] == 2
    async with db.read() as session:
        failed = {r.chat_id: r.last_error for r in (await session.execute(
            select(OutboxMessage).where(OutboxMessage.status == "failed"))).scalars()}  # fmt: skip
        marked = await session.get(TelegramUser, blocked.id)
    assert (
        "blocked" in (failed[blocked.id] or "")
        and "chat not found" in (failed[424242] or "").lower()
    )
    assert marked is not None and marked.blocked_at is not None


async def test_quiet_hours_hold_messages_until_eight(
    fake: FakeTelegram, db: Database, settings: Settings
) -> None:
    from bot.services.admins import add_admin
    from bot.services.roster import import_roster, read_workbook
    from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, link, workbook_bytes

    clock = FrozenClock(datetime(2026, 3, 17, 15, 30, tzinfo=UTC))  # 23:30 in Shanghai
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    sec = fake.add_user("Sec")
    sec.user.started = True
    await link(db, "S001", sec.id, clock.now())
    await add_admin(db, "DW", 1, None, now=clock.now())
    running = await start_bot(fake, db, clock, settings)
    try:
        # the bot was down since 08:00: a collection closed at 23:00; its summary is caught
        # up, but not at night
        from bot.services import collections
        from bot.store.models import Org, TickState

        async with db.write() as session:
            branch = await session.scalar(select(Org.id).where(Org.code == "ZB"))
            assert branch is not None
            await collections.create(
                session,
                branch_id=branch,
                kind="study_note",
                prompt="谈谈学习体会",
                deadline=datetime(2026, 3, 17, 15, 0, tzinfo=UTC),  # 23:00 in Shanghai
                audience="all",
                by=sec.id,
                now=datetime(2026, 3, 16, 2, 0, tzinfo=UTC),
                tz="Asia/Shanghai",
                group_chat_id=None,
                default_lang="zh",
            )
            session.add(TickState(id=1, last_minute=datetime(2026, 3, 17, 0, 0, tzinfo=UTC)))
        result = await tick(
            db, now=clock.now(), policy=DEFAULT_POLICY, bootstrap_ids=frozenset(), default_lang="zh"
        )
        assert result.enqueued > 0
        async with db.write() as session:  # the prompts went out when it was created
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.kind != "collection_summary")
                .values(status="sent")
            )
        running.app.bot_data["deps"].sender.wake()
        await asyncio.sleep(1.5)  # the sender looks at least once a second
        assert fake.bot_messages(sec.id) == []
        clock.set(datetime(2026, 3, 18, 0, 0, tzinfo=UTC))  # 08:00 in Shanghai
        running.app.bot_data["deps"].sender.wake()
        await fake.wait_for(
            lambda: [m for m in fake.bot_messages(sec.id) if "收集已截止" in m.content], timeout=5
        )
        # yesterday's briefing is stale by now: recorded as skipped, not sent
        assert not [m for m in fake.bot_messages(sec.id) if "今日简报" in m.content]
    finally:
        await running.stop()


async def test_what_telegram_refused_goes_out_when_the_person_first_writes(
    fake: FakeTelegram, db: Database, settings: Settings
) -> None:
    """A committee admin added by id before they ever opened the chat: the holiday notice is
    refused (403). When they first write to the bot, it comes after all — not a briefing of
    an earlier day, and not because they wrote in a group."""
    from bot.services.admins import add_admin
    from bot.services.roster import import_roster, read_workbook
    from jobs.holidays import check_once
    from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, workbook_bytes

    clock = FrozenClock(datetime(2026, 11, 30, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    admin, other = fake.add_user("Adm"), fake.add_user("Other")
    other.user.started = True
    group = fake.add_group("机关党委群", [admin, other])
    await add_admin(db, "DW", admin.id, None, now=clock.now())
    running = await start_bot(fake, db, clock, settings)
    try:
        await fill(db, [admin.id], clock.now(), "old briefing")
        async with db.write() as session:
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.key == "test|0").values(kind="briefing")
            )
        await check_once(running.app.bot_data["deps"])  # 2027 has no official data yet
        total = len(await session_rows(db))
        counts = await settled(db, total)
        assert counts["failed"] == total >= 2 and fake.bot_messages(admin.id) == []
        admin.send("大家好", chat_id=group.id)  # in the group: nothing is resent
        await asyncio.sleep(1.5)
        assert (await statuses(db))["failed"] == total
        home = await admin.ask("/start")
        assert "管理员" in home.content
        notice = await fake.wait_for(
            lambda: [m for m in fake.bot_messages(admin.id) if "2027" in m.content], timeout=5
        )
        assert notice and not [
            m for m in fake.bot_messages(admin.id) if "old briefing" in m.content
        ]
        mine = {r.kind: r.status for r in await session_rows(db) if r.chat_id == admin.id}
        assert mine == {"briefing": "failed", "holidays": "sent"}, mine
    finally:
        await running.stop()


async def session_rows(db: Database) -> list[OutboxMessage]:
    async with db.read() as session:
        return list((await session.execute(select(OutboxMessage))).scalars())
