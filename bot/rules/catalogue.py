"""The obligation catalogue (SPEC §3) and the reminder policy (SPEC §4). Data, no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import date, time
from typing import Any


class Period(enum.StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    HALF = "half"
    YEAR = "year"
    ONCE = "once"


class Scope(enum.StrEnum):
    """Who owes an obligation."""

    BRANCH = "branch"
    BRANCH_COMMITTEE = "branch_committee"  # a branch with at least 3 支委 members
    GROUP = "group"  # each 党小组
    CANDIDATE = "candidate"  # each probationary member and activist
    COMMITTEE = "committee"  # 党委 / 党组


MIN_COMMITTEE_MEMBERS = 3


@dataclass(frozen=True)
class Obligation:
    code: str
    name_zh: str
    name_en: str
    scope: Scope
    period: Period
    min_count: int
    attendance: bool
    source_zh: str
    source_en: str
    quorum: bool = False
    coverage: bool = False  # heart_talks: fulfilled by pair coverage, not by a count

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh

    def source(self, lang: str) -> str:
        return self.source_en if lang == "en" else self.source_zh


CATALOGUE: tuple[Obligation, ...] = (
    Obligation(
        "general_meeting", "支部党员大会", "general members' meeting", Scope.BRANCH, Period.QUARTER,
        1, True, "《中国共产党支部工作条例（试行）》第十一条：党员大会一般每季度召开1次",
        "Branch Work Regulations art. 11: a members' meeting, generally once a quarter",
        quorum=True,
    ),
    Obligation(
        "committee_meeting", "支部委员会会议", "branch committee meeting", Scope.BRANCH_COMMITTEE,
        Period.MONTH, 1, True, "《支部工作条例》第十二条：支部委员会会议一般每月召开1次",
        "Branch Work Regulations art. 12: a committee meeting, generally once a month",
        quorum=True,
    ),
    Obligation(
        "group_meeting", "党小组会", "Party group meeting", Scope.GROUP, Period.MONTH, 1, True,
        "《支部工作条例》第十三条：党小组会一般每月召开1次",
        "Branch Work Regulations art. 13: a Party group meeting, generally once a month",
    ),
    Obligation(
        "party_lecture", "党课", "Party lecture", Scope.BRANCH, Period.QUARTER, 1, True,
        "“三会一课”制度：党课一般每季度1次（本地规定，可调整）",
        "'Three meetings and one lecture': a Party lecture once a quarter (local rule)",
    ),
    Obligation(
        "secretary_lecture", "书记讲党课", "secretary's Party lecture", Scope.BRANCH, Period.YEAR,
        1, True, "《支部工作条例》：党支部书记每年至少讲1次党课",
        "Branch Work Regulations: the secretary gives at least one Party lecture a year",
    ),
    Obligation(
        "theme_day", "主题党日", "theme Party day", Scope.BRANCH, Period.MONTH, 1, True,
        "党支部每月相对固定1天开展主题党日",
        "A theme Party day once a month, on a fairly fixed day",
    ),
    Obligation(
        "org_life_meeting", "组织生活会", "organisational life meeting", Scope.BRANCH, Period.YEAR,
        1, True, "《支部工作条例》第十七条：组织生活会一般每年召开1次，一般安排在第四季度",
        "Branch Work Regulations art. 17: once a year, generally in the fourth quarter",
    ),
    Obligation(
        "democratic_review", "民主评议党员", "democratic review of members", Scope.BRANCH,
        Period.YEAR, 1, False, "民主评议党员一般每年开展1次",
        "Democratic review of members, generally once a year",
    ),
    Obligation(
        "heart_talks", "谈心谈话", "heart-to-heart talks", Scope.BRANCH, Period.YEAR, 1, False,
        "《支部工作条例》第十九条：支委之间、支委与党员之间每年谈心谈话一般不少于1次",
        "Branch Work Regulations art. 19: committee members with each other and with every "
        "member, at least once a year", coverage=True,
    ),
    Obligation(
        "thought_report", "思想汇报", "thought report", Scope.CANDIDATE, Period.QUARTER, 1, False,
        "培养考察：预备党员、入党积极分子每季度至少向党组织汇报1次思想",
        "Probationary members and activists report their thinking once a quarter",
    ),
    Obligation(
        "ideology_study", "意识形态工作专题研究", "ideology work study session", Scope.COMMITTEE,
        Period.YEAR, 2, False, "意识形态工作责任制：党委（党组）每年专题研究不少于2次",
        "Ideology work responsibility system: the committee studies it at least twice a year",
    ),
    Obligation(
        "ideology_report", "意识形态工作专题汇报", "ideology work report", Scope.BRANCH, Period.YEAR,
        1, False, "党支部每年向上级党委专题汇报意识形态工作1次",
        "Each branch reports on ideology work to its Party committee once a year",
    ),
    Obligation(
        "mass_org_report", "听取群团工作专题汇报", "hearing the mass organisations' report",
        Scope.COMMITTEE, Period.YEAR, 1, False, "党委（党组）每年至少听取1次群团工作专题汇报",
        "The committee hears the mass organisations' report at least once a year",
    ),
    Obligation(
        "secretary_review", "书记抓党建述职评议", "secretary's Party-building review",
        Scope.BRANCH, Period.YEAR, 1, False, "党组织书记抓基层党建工作述职评议考核制度",
        "The secretary's annual report and review on Party building",
    ),
)  # fmt: skip

BY_CODE: dict[str, Obligation] = {o.code: o for o in CATALOGUE}


@dataclass(frozen=True)
class ReminderPolicy:
    """When reminders go out (SPEC §4). One place for every number."""

    at: time = time(9, 0)
    offsets: tuple[int, ...] = (10, 5, 2, 0)  # workdays before last_workday
    escalation_offsets: tuple[int, ...] = (1, 3)  # workdays after the deadline
    quiet_start: time = time(22, 0)
    quiet_end: time = time(8, 0)
    grace_workdays: int = 10
    org_life_from: tuple[int, int] = (10, 1)  # month, day: org_life_meeting reminders start
    greeting_at: time = time(9, 0)
    digest_at: time = time(8, 30)  # managers on workdays; committee admins on Mondays
    digest_horizon_workdays: int = 10

    def in_quiet_hours(self, moment: time) -> bool:
        if self.quiet_start > self.quiet_end:
            return moment >= self.quiet_start or moment < self.quiet_end
        return self.quiet_start <= moment < self.quiet_end

    def briefing_time(self, rule: dict[str, Any] | None) -> time:
        """When a branch's people get their briefing unless they chose a time themselves:
        the reminder time the branch chose in /settings, else the digest time."""
        chosen = (rule or {}).get("at")
        return _hm(chosen) if chosen in REMINDER_TIMES else self.digest_at

    def with_rule(self, rule: dict[str, Any] | None) -> ReminderPolicy:
        """This policy with a branch's own choices from /settings (SPEC §5) in place: the
        reminder time, the reminder offsets, the quiet hours. Anything not one of the
        choices offered is ignored (the stored rule is never trusted blindly)."""
        if not rule:
            return self
        changes: dict[str, Any] = {}
        if rule.get("at") in REMINDER_TIMES:
            changes["at"] = _hm(rule["at"])
        offsets = rule.get("offsets")
        if isinstance(offsets, list) and tuple(offsets) in OFFSET_CHOICES:
            changes["offsets"] = tuple(offsets)
        quiet = rule.get("quiet")
        if isinstance(quiet, list) and tuple(quiet) in QUIET_CHOICES:
            changes["quiet_start"], changes["quiet_end"] = _hm(quiet[0]), _hm(quiet[1])
        return replace(self, **changes)


def _hm(text: str) -> time:
    hour, minute = text.split(":")
    return time(int(hour), int(minute))


# What a branch may choose in /settings: none of the reminder times falls in any quiet hours.
REMINDER_TIMES = ("08:00", "08:30", "09:00", "10:00", "14:00", "16:00")
OFFSET_CHOICES: tuple[tuple[int, ...], ...] = ((10, 5, 2, 0), (5, 2, 0), (3, 1, 0), (2, 0), (1, 0))
QUIET_CHOICES = (("22:00", "08:00"), ("21:00", "08:00"), ("22:00", "07:30"), ("23:00", "07:00"))

DEFAULT_POLICY = ReminderPolicy()


class BriefingMode(enum.StrEnum):
    """How often a person wants the morning briefing (#16, /settings)."""

    DAILY = "daily"  # every day it has something
    DUE_SOON = "due_soon"  # only when something is overdue or due within 2 workdays
    WEEKLY = "weekly"  # Mondays, with the week ahead


BRIEFING_TIMES = REMINDER_TIMES  # none falls in any quiet hours


@dataclass(frozen=True)
class Prefs:
    """A person's briefing choices (defaults for anyone who has not chosen)."""

    mode: BriefingMode = BriefingMode.DAILY
    at: time | None = None
    muted_until: date | None = None

    @classmethod
    def parse(cls, mode: str | None, at: str | None, muted_until: date | None) -> Prefs:
        """The choices as stored; anything not offered counts as not chosen."""
        chosen = BriefingMode(mode) if mode in set(BriefingMode) else BriefingMode.DAILY
        hour = time.fromisoformat(at) if at in BRIEFING_TIMES else None
        return cls(chosen, hour, muted_until)

    def mutes(self, day: date) -> bool:
        return self.muted_until is not None and day <= self.muted_until


URGENT_WORKDAYS = 2  # "due soon" for BriefingMode.DUE_SOON
