"""What the scheduler would send at a moment (SPEC §4, §9 ``zhibu reminders``). Sends nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import ancestor_ids
from bot.calendar import Occurrence, birthday_in
from bot.catalogue import ReminderPolicy, Scope
from bot.models import (
    MANAGER_ROLES,
    Member,
    Org,
    OrgAdmin,
    OrgKind,
    Role,
    TelegramLink,
    TelegramUser,
)
from bot.obligations import load_workdays, member_key, obligations_for, org_occurrences
from bot.texts import Lang, fmt_date, normalise_lang, period_label, t


@dataclass(frozen=True)
class Recipient:
    key: str | int  # member_code (or name) for members; the Telegram id for admins
    telegram_id: int | None
    lang: Lang


@dataclass(frozen=True)
class Planned:
    kind: str  # reminder | escalation | birthday
    obligation: str | None
    org: str
    recipient: Recipient
    text: str
    at: datetime

    @property
    def delivery(self) -> str:
        return "telegram" if self.recipient.telegram_id is not None else "unlinked"

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "obligation": self.obligation,
            "org": self.org,
            "recipient": self.recipient.key,
            "delivery": self.delivery,
            "text": self.text,
        }


class _People:
    """Members of one branch with their Telegram accounts and languages."""

    def __init__(self, rows: list[tuple[Member, int | None, str | None]], default: Lang) -> None:
        self.rows = rows
        self.default = default

    def recipient(self, member: Member, telegram_id: int | None, lang: str | None) -> Recipient:
        return Recipient(member_key(member), telegram_id, normalise_lang(lang, self.default))

    def managers(self) -> list[Recipient]:
        return [
            self.recipient(m, tg, lang)
            for m, tg, lang in self.rows
            if Role(m.role) in MANAGER_ROLES
        ]

    def group_leaders(self, group_id: int) -> list[Recipient]:
        return [
            self.recipient(m, tg, lang)
            for m, tg, lang in self.rows
            if m.role == Role.GROUP_LEADER.value and m.group_id == group_id
        ]

    def by_key(self, key: str) -> list[Recipient]:
        return [self.recipient(m, tg, lang) for m, tg, lang in self.rows if member_key(m) == key]

    def name_of(self, key: str) -> str:
        return next((m.name for m, _, _ in self.rows if member_key(m) == key), key)


async def _people(session: AsyncSession, org_id: int, default: Lang) -> _People:
    rows = await session.execute(
        select(
            Member,
            TelegramLink.telegram_user_id,
            TelegramUser.language,
            TelegramUser.telegram_language,
        )
        .outerjoin(TelegramLink, TelegramLink.member_id == Member.id)
        .outerjoin(TelegramUser, TelegramUser.id == TelegramLink.telegram_user_id)
        .where(Member.org_id == org_id, Member.active)
        .order_by(Member.id)
    )
    return _People([(m, tg, chosen or tl) for m, tg, chosen, tl in rows], default)


async def _admins(
    session: AsyncSession, org_ids: list[int], bootstrap: frozenset[int], default: Lang
) -> list[Recipient]:
    """The admins of the first org in ``org_ids`` that has any; else the bootstrap admins."""
    for oid in org_ids:
        rows = await session.execute(
            select(OrgAdmin.telegram_user_id, TelegramUser.language, TelegramUser.telegram_language)
            .outerjoin(TelegramUser, TelegramUser.id == OrgAdmin.telegram_user_id)
            .where(OrgAdmin.org_id == oid)
            .order_by(OrgAdmin.telegram_user_id)
        )
        found = [Recipient(tg, tg, normalise_lang(c or tl, default)) for tg, c, tl in rows]
        if found:
            return found
    return [Recipient(tg, tg, default) for tg in sorted(bootstrap)]


async def planned_at(
    session: AsyncSession,
    at: datetime,
    *,
    policy: ReminderPolicy,
    bootstrap_ids: frozenset[int],
    default_lang: Lang,
) -> list[Planned]:
    """Everything due at ``at`` (to the minute): reminders, escalations, political birthdays."""
    at = at.replace(second=0, microsecond=0)
    cal = await load_workdays(session)
    orgs = (
        await session.execute(
            select(Org)
            .where(Org.kind.in_([OrgKind.BRANCH.value, OrgKind.COMMITTEE.value]))
            .order_by(Org.code)
        )
    ).scalars()
    groups = {
        o.code: o
        for o in (
            await session.execute(select(Org).where(Org.kind == OrgKind.GROUP.value))
        ).scalars()
    }
    result: list[Planned] = []
    for org in list(orgs):
        local = at.astimezone(ZoneInfo(org.timezone))
        names = {e.ob.code: e.ob for e in await obligations_for(session, org)}
        seen: set[tuple[str, str, str | None, date]] = set()
        occurrences: list[Occurrence] = []
        for year in (local.year - 1, local.year):
            for occ in await org_occurrences(session, org, year, now=at, cal=cal, policy=policy):
                ident = (occ.obligation, occ.org, occ.member, occ.start)
                if ident not in seen:
                    seen.add(ident)
                    occurrences.append(occ)
        due = [o for o in occurrences if at in o.reminders or at in o.escalations]
        people = (
            await _people(session, org.id, default_lang)
            if org.kind == OrgKind.BRANCH.value
            else None
        )
        for occ in due:
            ob = names[occ.obligation]
            step = "reminder" if at in occ.reminders else "escalation"
            oversight = step == "escalation" and occ.escalations.index(at) >= 1
            if oversight:
                above = (await ancestor_ids(session, org.id))[1:]
                recipients = await _admins(session, above, bootstrap_ids, default_lang)
            elif ob.scope is Scope.COMMITTEE or (ob.scope is Scope.BRANCH and people is None):
                recipients = await _admins(session, [org.id], bootstrap_ids, default_lang)
            elif ob.scope is Scope.CANDIDATE and people is not None and occ.member is not None:
                recipients = people.by_key(occ.member)
            elif ob.scope is Scope.GROUP and people is not None:
                group = groups.get(occ.org)
                leaders = people.group_leaders(group.id) if group else []
                recipients = leaders + [r for r in people.managers() if r not in leaders]
            else:
                recipients = people.managers() if people is not None else []
            who = org.name
            if occ.member is not None and people is not None:
                who = f"{org.name} · {people.name_of(occ.member)}"
            elif occ.org in groups:
                who = f"{org.name} · {groups[occ.org].name}"
            text_key = "oversight" if oversight else step
            for r in recipients:
                text = _occurrence_text(r.lang, text_key, occ, ob.name(r.lang), who)
                result.append(Planned(step, occ.obligation, occ.org, r, text, at))
        if people is not None:
            result += _birthdays(people, org, at, local.date(), policy)
    return result


def _birthdays(
    people: _People, org: Org, at: datetime, today: date, policy: ReminderPolicy
) -> list[Planned]:
    """Political birthdays (党员政治生日) greeted at 09:00 local time."""
    tz = ZoneInfo(org.timezone)
    found = []
    for m, tg, lang in people.rows:
        if m.joined_on is None or birthday_in(m.joined_on, today.year) != today:
            continue
        if datetime.combine(today, policy.greeting_at, tzinfo=tz) != at:
            continue
        r = people.recipient(m, tg, lang)
        years = today.year - m.joined_on.year
        found.append(
            Planned(
                "birthday",
                None,
                org.code,
                r,
                t(r.lang, "remind.birthday", name=m.name, years=years),
                at,
            )
        )
    return found


def _occurrence_text(lang: Lang, key: str, occ: Occurrence, name: str, who: str) -> str:
    return t(
        lang,
        f"remind.{key}",
        org=who,
        obligation=name,
        period=period_label(lang, occ.start, occ.end),
        count=occ.count,
        required=occ.required,
        last_workday=fmt_date(lang, occ.last_workday),
        deadline=fmt_date(lang, occ.deadline),
    )
