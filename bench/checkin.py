"""Check-in presses answered per second, as a ratio of a bare python-telegram-bot bot (#15).

The bots run against the same in-process fake Bot API (flood limits off) and get the same
bursts of button presses: N members press 签到 at once, on their private cards and on the
group's card. zhibu checks the caller, the meeting and the window, records the check-in,
answers the press and, on a private card, edits the card to say so (two Bot API calls).

The verdict compares zhibu with a bare bot that makes the same Bot API calls with the same
number of updates handled side by side (``concurrent_updates``), so the ratio is what zhibu
itself adds — its database work and checks — which is what #15 asks to bring down (goal
≥ 0.5). For reference the plain bare bot (PTB's default: one update at a time, answer only)
is measured too: on this machine handling 16 updates side by side alone costs a bare bot
about half its rate (httpx's connection pool grows with the updates in flight), and an
edit after the answer about as much again. Each burst runs 3 times per bot (medians); every
press must be recorded once and answered once.
Run: ``.venv/bin/python -m bench.checkin [--presses N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select
from telegram import Update
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, ContextTypes

from bench.report import RUNS, figure, median
from bot.rules.clock import FrozenClock
from bot.services import meetings
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import Attendance, Member, Org, TelegramLink
from handlers.app import build_application, polling_intake, start_services, stop_services
from settings import get_settings
from tests.fakegram import FakeTelegram, Limits

NOW = datetime(2026, 12, 1, 1, 45, tzinfo=UTC)
WHERE = ("private", "group")


def cards(fake: FakeTelegram, data: str, users: list, group, where: str) -> list:  # type: ignore[no-untyped-def]
    """One card per presser: each one's private card, or the group's one card for all."""
    markup = {"inline_keyboard": [[{"text": "签到", "callback_data": data}]]}
    if where == "group":
        card = fake.new_message(
            group, fake.bot["id"], from_bot=True, text="card", reply_markup=markup
        )
        return [card] * len(users)
    return [
        fake.new_message(
            fake.chats[u.id], fake.bot["id"], from_bot=True, text="card", reply_markup=markup
        )
        for u in users
    ]


async def burst(
    fake: FakeTelegram, data: str, users: list, group, where: str
) -> tuple[float, list[str]]:  # type: ignore[no-untyped-def]
    """Everyone presses at once; the seconds until all are answered, and the answers."""
    shown = cards(fake, data, users, group, where)
    started = time.perf_counter()
    queries = [u.press(card, "签到") for u, card in zip(users, shown, strict=True)]
    await fake.wait_for(lambda: all(q in fake.callback_answers for q in queries), timeout=600)
    took = time.perf_counter() - started
    return took, [fake.callback_answers[q].text or "" for q in queries]


async def bare(
    fake: FakeTelegram, users: list, group, *, side_by_side: int, like_zhibu: bool
) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    """A bare bot's times. ``like_zhibu``: it also edits a private card after answering,
    as zhibu does; ``side_by_side``: updates handled at once (PTB's default is 1)."""

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("签到成功")
        if like_zhibu and query.message is not None and query.message.chat.type == "private":
            await query.edit_message_text("card: present")

    app = (
        ApplicationBuilder()
        .token("1:bare")
        .base_url(fake.base_url)
        .concurrent_updates(side_by_side)
        .build()
    )
    app.add_handler(CallbackQueryHandler(answer))
    times: dict[str, list[float]] = {"private": [], "group": []}
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=1, poll_interval=0)
        for where in WHERE:
            for _ in range(RUNS):
                took, _ = await burst(fake, "bare", users, group, where)
                times[where].append(took)
        await app.updater.stop()
        await app.stop()
    return times


async def seed(db: Database, users: list, group) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        session.add(
            Org(
                id=1,
                code="ZB",
                name="支部",
                kind="branch",
                timezone="Asia/Shanghai",
                group_chat_id=group.id,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await session.flush()
        await session.execute(
            insert(Member),
            [
                {
                    "id": i + 1,
                    "org_id": 1,
                    "name": f"党员{i}",
                    "member_code": f"C{i}",
                    "role": "member",
                    "active": True,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(len(users))
            ],
        )
        await session.execute(
            insert(TelegramLink),
            [
                {"member_id": i + 1, "telegram_user_id": u.id, "linked_at": NOW, "via": "bench"}
                for i, u in enumerate(users)
            ],
        )


async def new_meeting(db: Database) -> int:
    async with db.write() as session:
        meeting = await meetings.create(
            session,
            org_id=1,
            obligation="theme_day",
            also=[],
            starts_at=NOW + timedelta(minutes=15),
            place="礼堂",
            topic=None,
            by=0,
            now=NOW,
        )
        return meeting.id


async def recorded(db: Database, meeting_id: int) -> int:
    async with db.read() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Attendance)
                .where(Attendance.meeting_id == meeting_id)
            )
            or 0
        )


async def zhibu(
    fake: FakeTelegram, users: list, group, tmp: str
) -> tuple[dict[str, list[float]], list[str]]:  # type: ignore[no-untyped-def]
    """zhibu's times, and what went wrong (presses not recorded, or not answered once)."""
    url = f"sqlite+aiosqlite:///{Path(tmp) / 'checkin.db'}"
    db = Database.from_url(url)
    await upgrade(db.engine)
    await seed(db, users, group)
    settings = get_settings(
        _env_file=None,
        bot_token="1:zhibu",
        database_url=url,
        api_base_url=fake.base_url,
        scheduler_enabled=False,
    )
    times: dict[str, list[float]] = {"private": [], "group": []}
    wrong: list[str] = []
    app = build_application(settings, db=db, clock=FrozenClock(NOW))
    async with app:
        await app.start()
        await start_services(app)
        intake = polling_intake(app, timeout=1)  # updates come in through the inbox
        await intake.start()
        for where in WHERE:
            for n in range(RUNS):
                meeting_id = await new_meeting(db)
                took, answers = await burst(fake, f"mt:c:{meeting_id}", users, group, where)
                times[where].append(took)
                stored, ok = await recorded(db, meeting_id), answers.count("签到成功")
                if stored != len(users) or ok != len(users):
                    wrong.append(f"{where} run {n + 1}: {stored} recorded, {ok} answered 签到成功")
        await intake.stop()
        await stop_services(app)
        await app.stop()
    await db.dispose()
    return times, wrong


async def main(presses: int) -> None:
    fake = FakeTelegram(limits=Limits(None, None, None))
    await fake.start()
    users = [fake.add_user(f"U{i}") for i in range(presses)]
    group = fake.add_group("群", users)
    side_by_side = get_settings(_env_file=None, bot_token="1:zhibu").concurrent_updates
    try:
        plain = await bare(fake, users, group, side_by_side=1, like_zhibu=False)
        base = await bare(fake, users, group, side_by_side=side_by_side, like_zhibu=True)
        with tempfile.TemporaryDirectory() as tmp:
            ours, wrong = await zhibu(fake, users, group, tmp)
    finally:
        await fake.stop()
    print(
        f"inputs: {presses} members press 签到 at once; same in-process fake, limits off; "
        f"{RUNS} runs; zhibu and 'same calls' handle {side_by_side} updates side by side"
    )
    print(f"{'where':<9}{'bot':<12}{'median s':>10}{'min–max s':>16}{'presses/s':>11}{'ratio':>8}")
    for where in WHERE:
        ratio = median(base[where]) / median(ours[where])
        rows = (("plain bare", plain[where]), ("same calls", base[where]), ("zhibu", ours[where]))
        for name, times in rows:
            span = f"{min(times):.2f}–{max(times):.2f}"
            print(
                f"{where:<9}{name:<12}{median(times):>10.2f}{span:>16}"
                f"{presses / median(times):>11.0f}"
                f"{median(base[where]) / median(times):>8.2f}"
            )
        figure(
            f"check-in: {presses} {where} presses, of a bare PTB bot making the same calls",
            f"{ratio:.2f}× ({presses / median(ours[where]):.0f}/s; bare "
            f"{presses / median(base[where]):.0f}/s; plain bare {presses / median(plain[where]):.0f}/s)",
            "≥ 0.5×",
            "ok" if ratio >= 0.5 else "MISSED",
        )
    for line in wrong:
        print("WRONG:", line)
    figure(
        "check-in: every press recorded and answered once",
        "yes" if not wrong else f"no ({len(wrong)} runs)",
        "yes",
        "ok" if not wrong else "MISSED",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--presses", type=int, default=500)
    asyncio.run(main(parser.parse_args().presses))
