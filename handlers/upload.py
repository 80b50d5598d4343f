"""Files sent to the bot in a private chat: rosters by committee admins, and past meetings
(a 会议记录 sheet) by managers and admins."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, ContextTypes, MessageHandler, filters

from bot.i18n import names
from bot.i18n.texts import t
from bot.services.access import Actor, NotAllowed
from bot.services.backfill import import_records, may_send_records, read_upload, render_outcome
from bot.services.roster import (
    MEMBER_SHEET,
    ORG_SHEET,
    Importer,
    RosterFormatError,
    Table,
    csv_kind,
    import_as,
    read_csv,
    read_isolated,
    render_result,
    require_importer,
)
from handlers.kit.common import actor_of, deps, esc, in_background, refuse, reply
from handlers.reports import REPORT, report_photo

CSV_PAIR_WINDOW = timedelta(minutes=15)


@dataclass
class PendingCsv:
    """The first of the two roster CSVs, waiting for the other."""

    since: datetime
    files: dict[str, bytes] = field(default_factory=dict)


def chunks(lines: list[str], limit: int = 4000) -> list[str]:
    """Join lines into messages that stay under Telegram's length limit."""
    out: list[str] = []
    current = ""
    for line in lines:
        line = line[:limit]
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if REPORT.at(context, "photos") is not None:  # a file where a photo is asked: refused there
        await report_photo(update, context)
        return
    actor = await actor_of(update, context)
    message = update.effective_message
    assert message is not None and message.document is not None and context.user_data is not None
    name = (message.document.file_name or "").lower()
    try:  # before anything is downloaded: admins (rosters), managers (past meetings)
        may_send_records(actor)
        if name.endswith(".csv"):  # only rosters come as CSV
            require_importer(actor)
    except NotAllowed as exc:
        await refuse(update, context, actor, action="roster.import", key=exc.key)
        return
    d = deps(context)
    document = message.document
    if document.file_size is not None and document.file_size > d.settings.max_upload_bytes:
        await reply(
            update,
            t(actor.lang, "import.too_large", mb=d.settings.max_upload_bytes // (1024 * 1024)),
        )
        return
    if not name.endswith((".xlsx", ".csv")):
        await reply(update, t(actor.lang, "import.bad_type"))
        return
    data = bytes(await (await document.get_file()).download_as_bytearray())
    if len(data) > d.settings.max_upload_bytes:
        await reply(
            update,
            t(actor.lang, "import.too_large", mb=d.settings.max_upload_bytes // (1024 * 1024)),
        )
        return
    in_background(update, context, _import(update, context, actor, name, data))


async def _import(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, name: str, data: bytes
) -> None:
    """Read (in a child process for workbooks), validate and apply one roster file."""
    d = deps(context)
    assert context.user_data is not None
    try:
        if name.endswith(".xlsx"):  # in a child process: a hostile file stalls nobody
            kind, found = await asyncio.to_thread(read_isolated, data, read_upload)
            if kind == "records":
                await _import_records(update, context, actor, name, data, found)
                return
            require_importer(actor)
            orgs, members = found
        else:
            require_importer(actor)
            pair = _collect_csv(context.user_data, data, d.clock.now())
            if pair is None:
                pending = context.user_data["roster_csv"]
                missing = "members" if "orgs" in pending.files else "orgs"
                await reply(update, t(actor.lang, names.CSV_STILL_NEEDED[missing]))
                return
            orgs, members = pair
    except RosterFormatError as exc:
        context.user_data.pop("roster_csv", None)
        await reply(update, t(actor.lang, exc.key, **exc.params))
        return
    except NotAllowed as exc:  # a manager who sent a roster
        return await refuse(update, context, actor, action="roster.import", key=exc.key)
    result = await import_as(
        d.db,
        actor,
        orgs,
        members,
        now=d.clock.now(),
        default_timezone=d.settings.timezone,
        importer=Importer.of("chat", name, data, telegram_id=actor.telegram_id),
    )
    for text in chunks([esc(line) for line in render_result(actor.lang, result, dry_run=False)]):
        await reply(update, text)


async def _import_records(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    name: str,
    data: bytes,
    tables: list[Table],
) -> None:
    """Past meetings from a 会议记录 sheet, for the branches the sender manages."""
    d = deps(context)
    lang = actor.lang
    try:
        done = await import_records(
            d.db, tables, now=d.clock.now(), actor=actor, source=(name, data)
        )
    except NotAllowed as exc:
        await refuse(update, context, actor, action="records.import", key=exc.key)
        return
    for text in chunks([esc(line) for line in render_outcome(lang, done)]):
        await reply(update, text)


def _collect_csv(
    user_data: dict[Any, Any], data: bytes, now: datetime
) -> tuple[Table, Table] | None:
    """Keep the first CSV of a pair for a while; return both tables once both have come."""
    kind = csv_kind(read_csv(data, ORG_SHEET).headers)
    if kind is None:
        raise RosterFormatError("import.csv_unknown")
    pending = user_data.get("roster_csv")
    if not isinstance(pending, PendingCsv) or now - pending.since > CSV_PAIR_WINDOW:
        pending = PendingCsv(since=now)
    pending.files[kind] = data
    user_data["roster_csv"] = pending
    if "orgs" in pending.files and "members" in pending.files:
        user_data.pop("roster_csv", None)
        return read_csv(pending.files["orgs"], ORG_SHEET), read_csv(
            pending.files["members"], MEMBER_SHEET
        )
    return None


HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]] = [
    MessageHandler(filters.ChatType.PRIVATE & filters.Document.ALL, on_document),
]
