"""The data model. Schema changes go through Alembic migrations in migrations/."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class OrgKind(enum.StrEnum):
    WORKING_COMMITTEE = "working_committee"
    COMMITTEE = "committee"
    GENERAL_BRANCH = "general_branch"
    BRANCH = "branch"
    GROUP = "group"


class Role(enum.StrEnum):
    SECRETARY = "secretary"
    DEPUTY_SECRETARY = "deputy_secretary"
    ORGANIZER = "organizer"
    PROPAGANDA = "propaganda"
    DISCIPLINE = "discipline"
    GROUP_LEADER = "group_leader"
    MEMBER = "member"
    PROBATIONARY = "probationary"
    ACTIVIST = "activist"


MANAGER_ROLES = frozenset({Role.SECRETARY, Role.DEPUTY_SECRETARY, Role.ORGANIZER})
COMMITTEE_ROLES = MANAGER_ROLES | {Role.PROPAGANDA, Role.DISCIPLINE}
NON_FULL_ROLES = frozenset({Role.PROBATIONARY, Role.ACTIVIST})


class Org(Base):
    __tablename__ = "orgs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"), index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    group_chat_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    theme_day_rule: Mapped[str | None] = mapped_column(String(32))
    checkin_mode: Mapped[str] = mapped_column(String(8), default="button", server_default="button")
    # a branch's own reminder time, offsets and quiet hours (/settings); None: the defaults
    reminder_rule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # the first day the bot keeps this org's calendar: periods whose deadline is before it are
    # not tracked (never reminded of, assessed or shown as missed); set by the import
    tracking_since: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (Index("ix_members_org_name", "org_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    member_code: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(32))
    joined_on: Mapped[date | None] = mapped_column(Date)
    away_until: Mapped[date | None] = mapped_column(Date)  # /away: no nudges until this day
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    link: Mapped[TelegramLink | None] = relationship(
        back_populates="member", uselist=False, lazy="raise"
    )


class OrgAdmin(Base):
    __tablename__ = "org_admins"
    __table_args__ = (UniqueConstraint("org_id", "telegram_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    name: Mapped[str | None] = mapped_column(String(50))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TelegramUser(Base):
    """What we know of a Telegram account, linked or not."""

    __tablename__ = "telegram_users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(128))
    username: Mapped[str | None] = mapped_column(String(64))
    telegram_language: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # the morning briefing (#16): how often (BriefingMode), at what time ("HH:MM", None: the
    # branch's reminder time), and nothing but overdue escalations until this day
    briefing_mode: Mapped[str] = mapped_column(String(16), default="daily", server_default="daily")
    briefing_at: Mapped[str | None] = mapped_column(String(5))
    briefing_muted_until: Mapped[date | None] = mapped_column(Date())


class TelegramLink(Base):
    __tablename__ = "telegram_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), unique=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    via: Mapped[str] = mapped_column(String(16))

    member: Mapped[Member] = relationship(back_populates="link", lazy="raise")


class InviteKind(enum.StrEnum):
    MEMBER = "member"
    BRANCH = "branch"


class InviteToken(Base):
    __tablename__ = "invite_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_by: Mapped[int | None] = mapped_column(BigInteger)


class JoinStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class JoinRequest(Base):
    __tablename__ = "join_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), index=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("invite_tokens.id"))
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    typed_name: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InboxUpdate(Base):
    """An update from Telegram, stored before it is confirmed (the transactional inbox).

    ``payload`` is the update as Telegram sent it, kept until it is handled; ``handled_at``
    is set in the same transaction as the first change the update made (or after handlers
    that change nothing). The update id being here is also what makes a second delivery of
    the same update change nothing.
    """

    __tablename__ = "update_inbox"
    __table_args__ = (Index("ix_update_inbox_pending", "handled_at", "update_id"),)

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"))
    action: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text)


class HolidayYear(Base):
    """A year whose workdays the operator imported from the State Council notice."""

    __tablename__ = "holiday_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HolidayDay(Base):
    __tablename__ = "holiday_days"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(
        ForeignKey("holiday_years.year", ondelete="CASCADE"), index=True
    )
    day: Mapped[date] = mapped_column(Date, unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # holiday | workday
    name: Mapped[str | None] = mapped_column(String(50))


class ObligationSetting(Base):
    """A branch's own version of a built-in obligation: off (with a reason), period, min."""

    __tablename__ = "obligation_settings"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    code: Mapped[str] = mapped_column(String(40))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    reason: Mapped[str | None] = mapped_column(Text)
    period: Mapped[str | None] = mapped_column(String(16))
    min_count: Mapped[int | None] = mapped_column(Integer)
    updated_by: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CustomObligation(Base):
    __tablename__ = "custom_obligations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(60))
    period: Mapped[str] = mapped_column(String(16))  # month … year, or once
    due_on: Mapped[date | None] = mapped_column(Date)
    min_count: Mapped[int] = mapped_column(Integer, default=1)
    attendance: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Record(Base):
    """Something that happened and counts toward obligations: a meeting, a report, a talk."""

    __tablename__ = "records"
    __table_args__ = (Index("ix_records_org_held", "org_id", "held_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(32))
    held_on: Mapped[date] = mapped_column(Date)
    summary: Mapped[str | None] = mapped_column(Text)
    filed_by: Mapped[int | None] = mapped_column(BigInteger)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # meeting records: meeting_id, topic, first_topic, attendance by hand, photos (file ids)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class RecordObligation(Base):
    """Which obligations a record fulfils (合并召开, 分别记录: each counts once)."""

    __tablename__ = "record_obligations"

    record_id: Mapped[int] = mapped_column(
        ForeignKey("records.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(40), primary_key=True)


class Notice(Base):
    """One-time notices already given (e.g. a year without holiday data)."""

    __tablename__ = "notices"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    HELD = "held"  # worked out ahead of its moment (``held_for``): not sent until released


class OutboxMessage(Base):
    """A message the scheduler wants sent; written in the transaction that decided it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_not_before", "status", "not_before"),
        Index("ix_outbox_chat_message", "chat_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    reply_markup: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    tries: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    # who claimed a row being sent, and until when the claim holds (see bot/outbox.py)
    epoch: Mapped[int | None] = mapped_column(Integer)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # a briefing worked out ahead: the moment it was worked out for (see the tick's Ahead)
    held_for: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LeaderState(Base):
    """The active process (one row): its fencing epoch and how long its lease holds."""

    __tablename__ = "leader_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    holder: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TaskLiveness(Base):
    """When each long-lived task last completed a loop, for /healthz and zhibu doctor."""

    __tablename__ = "task_liveness"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    last_ok: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failures: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Instance(Base):
    """This deployment (one row, made by the migration): its random id scopes identifiers
    that leave the database, as the UIDs of .ics events, so two deployments never collide."""

    __tablename__ = "instance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    uid: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TickState(Base):
    """Up to which minute the scheduler has looked (one row)."""

    __tablename__ = "tick_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_minute: Mapped[datetime] = mapped_column(UTCDateTime())


class OrgChange(Base):
    """Which org's data changed, in order: written by triggers (migration 0013) on every
    table a briefing reads; ``org_id`` NULL when it may concern anyone."""

    __tablename__ = "org_changes"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int | None] = mapped_column(Integer)


class Meeting(Base):
    """A scheduled meeting of a branch or 党小组 (SPEC §6)."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), index=True)
    obligation: Mapped[str] = mapped_column(String(40))  # or "other"
    also: Mapped[list[str]] = mapped_column(JSON, default=list)  # other obligations it fulfils
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    place: Mapped[str] = mapped_column(String(100))
    topic: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # scheduled | cancelled | closed
    checkin_mode: Mapped[str] = mapped_column(String(8))  # button | code
    code: Mapped[str | None] = mapped_column(String(6))
    group_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    group_message_id: Mapped[int | None] = mapped_column(BigInteger)
    quorum_met: Mapped[bool | None] = mapped_column(Boolean)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"))
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Attendance(Base):
    """One expected attendee's answer: present (by button, code or proxy) or on leave."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("meeting_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    status: Mapped[str] = mapped_column(String(16))  # present | leave
    via: Mapped[str] = mapped_column(String(16))  # button | code | proxy
    reason: Mapped[str | None] = mapped_column(String(200))
    by_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class CodeAttempt(Base):
    """Wrong check-in codes per member and meeting; five lock the member out for a while."""

    __tablename__ = "code_attempts"
    __table_args__ = (UniqueConstraint("meeting_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MakeupTask(Base):
    """补学: a study note owed by a member who was on leave from a meeting."""

    __tablename__ = "makeup_tasks"
    __table_args__ = (UniqueConstraint("meeting_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    due_on: Mapped[date] = mapped_column(Date)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Conversation(Base):
    """Where a user is in a multi-step conversation, so it survives a restart (one per user)."""

    __tablename__ = "conversations"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Collection(Base):
    """/ask: a manager collects one kind of report from part of the branch by a deadline."""

    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    prompt: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(16))  # all | full | committee | path
    deadline: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    summary_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CollectionTarget(Base):
    """One member asked by a collection, and whether (and when) they submitted."""

    __tablename__ = "collection_targets"
    __table_args__ = (UniqueConstraint("collection_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"))
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # the prompt could reach them when it was sent (linked, not away): only those who could
    # (or who answered anyway) count in the assessment
    reached: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
