"""Check-ins handled per second, as a ratio of a bare python-telegram-bot bot.

Both bots run against the same in-process fake Bot API (flood limits off) and get the same
burst of button presses: N members press 签到 at once. The bare bot only answers each press;
zhibu checks the caller, the meeting, the window and records the check-in.
Run: ``.venv/bin/python -m bench.checkin [--presses N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from telegram import Update
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, ContextTypes

from bench.report import figure
from bot.rules.clock import FrozenClock
from bot.services import meetings
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import Member, Org, TelegramLink
from handlers.app import build_application, start_services, stop_services
from settings import get_settings
from tests.fakegram import FakeTelegram, Limits

NOW = datetime(2026, 12, 1, 1, 45, tzinfo=UTC)


async def burst(fake: FakeTelegram, data: str, users: list, group) -> float:  # type: ignore[no-untyped-def]
    card = fake.new_message(
        group,
        fake.bot["id"],
        from_bot=True,
        text="card",
        reply_markup={"inline_keyboard": [[{"text": "签到", "callback_data": data}]]},
    )
    started = time.perf_counter()
    queries = [u.press(card, "签到") for u in users]
    await fake.wait_for(lambda: all(q in fake.callback_answers for q in queries), timeout=600)
    return time.perf_counter() - started


async def bare(fake: FakeTelegram, users: list, group) -> float:  # type: ignore[no-untyped-def]
    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("ok")

    app = ApplicationBuilder().token("1:bare").base_url(fake.base_url).build()
    app.add_handler(CallbackQueryHandler(answer))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=1, poll_interval=0)
        took = await burst(fake, "bare", users, group)
        await app.updater.stop()
        await app.stop()
    return took


async def zhibu(fake: FakeTelegram, users: list, group, tmp: str) -> float:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{Path(tmp) / 'checkin.db'}"
    db = Database.from_url(url)
    await upgrade(db.engine)
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
        meeting_id = meeting.id
    settings = get_settings(
        _env_file=None,
        bot_token="1:zhibu",
        database_url=url,
        api_base_url=fake.base_url,
        scheduler_enabled=False,
    )
    app = build_application(settings, db=db, clock=FrozenClock(NOW))
    async with app:
        await app.start()
        await start_services(app)
        assert app.updater is not None
        await app.updater.start_polling(timeout=1, poll_interval=0)
        took = await burst(fake, f"mt:c:{meeting_id}", users, group)
        await app.updater.stop()
        await stop_services(app)
        await app.stop()
    await db.dispose()
    return took


async def main(presses: int) -> None:
    fake = FakeTelegram(limits=Limits(None, None, None))
    await fake.start()
    users = [fake.add_user(f"U{i}") for i in range(presses)]
    group = fake.add_group("群", users)
    try:
        base = await bare(fake, users, group)
        with tempfile.TemporaryDirectory() as tmp:
            ours = await zhibu(fake, users, group, tmp)
    finally:
        await fake.stop()
    print(f"inputs: {presses} members press 签到 at once; same in-process fake, limits off")
    print(f"{'bot':<34}{'seconds':>10}{'presses/s':>12}{'ratio':>8}")
    print(
        f"{'bare python-telegram-bot (answers)':<34}{base:>10.2f}{presses / base:>12.0f}{1.0:>8.2f}"
    )
    print(
        f"{'zhibu (checks and records)':<34}{ours:>10.2f}{presses / ours:>12.0f}{base / ours:>8.2f}"
    )
    figure(
        f"check-in: {presses} presses at once, presses/s",
        f"{presses / ours:.0f} ({base / ours:.2f} of a bare bot)",
        "all recorded; ≥ Telegram's 30 answers/s",
        "ok" if presses / ours >= 30 else "MISSED",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--presses", type=int, default=500)
    asyncio.run(main(parser.parse_args().presses))
