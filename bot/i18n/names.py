"""From codes the program keeps (a report kind, a status, a command …) to the catalogue key
that names them for people. Every map is written out, so each key the code can ask for is
visible here and checked against the catalogues by tests/bot/i18n/test_catalogues.py."""

from __future__ import annotations

BRIEFING_MODE = {
    "daily": "brief.mode_daily",
    "due_soon": "brief.mode_due_soon",
    "weekly": "brief.mode_weekly",
}
BRIEFING_MODE_SHORT = {
    "daily": "brief.mode_daily_short",
    "due_soon": "brief.mode_due_soon_short",
    "weekly": "brief.mode_weekly_short",
}
REPORT_KIND = {
    "study_note": "report.kind_study_note",
    "thought_report": "report.kind_thought_report",
    "work_report": "report.kind_work_report",
    "meeting_record": "report.kind_meeting_record",
    "democratic_review": "report.kind_democratic_review",
    "heart_talk": "report.kind_heart_talk",
    "ideology_report": "report.kind_ideology_report",
    "secretary_review": "report.kind_secretary_review",
    "ideology_study": "report.kind_ideology_study",
    "mass_org_report": "report.kind_mass_org_report",
}
STATUS = {  # bot.rules.calendar.Status
    "done": "status.done",
    "open": "status.open",
    "overdue": "status.overdue",
    "missed": "status.missed",
    "not_applicable": "status.not_applicable",
    "not_tracked": "status.not_tracked",
}
CHART_STATE = {  # bot.exports.charts.STATES, in a chart's legend
    "done": "chart.done",
    "open": "chart.open",
    "overdue": "chart.overdue",
    "not_tracked": "chart.not_tracked",
}
PERIOD_HEADING = {  # bot.rules.catalogue.Period, as a heading of /calendar
    "month": "calendar.month",
    "quarter": "calendar.quarter",
    "half": "calendar.half",
    "year": "calendar.year",
}
PER_PERIOD = {  # "n times per …" in /settings
    "month": "settings.per_month",
    "quarter": "settings.per_quarter",
    "half": "settings.per_half",
    "year": "settings.per_year",
}
CHECKIN_MODE = {"button": "settings.checkin_button", "code": "settings.checkin_code"}
MY_ATTENDANCE = {  # the reader's own line on a meeting card
    "none": "card.mine_none",
    "present": "card.mine_present",
    "leave": "card.mine_leave",
}
REMINDER_STEP = {
    "reminder": "remind.reminder",
    "escalation": "remind.escalation",
    "oversight": "remind.oversight",
}
GRADE = {
    "优秀": "grade.excellent",
    "良好": "grade.good",
    "一般": "grade.fair",
    "较差": "grade.poor",
}
HOLIDAY_SOURCE = {  # bot.rules.workdays.Source
    "imported": "holidays.source_imported",
    "package": "holidays.source_package",
    "fallback": "holidays.source_fallback",
}
COMMAND = {  # bot.rules.commands.COMMANDS: the one-line description of each
    "start": "cmd.start",
    "help": "cmd.help",
    "invite": "cmd.invite",
    "roster": "cmd.roster",
    "bind": "cmd.bind",
    "unbind": "cmd.unbind",
    "lang": "cmd.lang",
    "cancel": "cmd.cancel",
    "calendar": "cmd.calendar",
    "due": "cmd.due",
    "settings": "cmd.settings",
    "meet": "cmd.meet",
    "report": "cmd.report",
    "tasks": "cmd.tasks",
    "status": "cmd.status",
    "overview": "cmd.overview",
    "assess": "cmd.assess",
    "export": "cmd.export",
    "ics": "cmd.ics",
    "ask": "cmd.ask",
    "away": "cmd.away",
    "checkin": "cmd.checkin",
    "leave": "cmd.leave",
    "whoami": "cmd.whoami",
}
CHECKIN_ANSWER = {  # bot.services.meetings.Answer, for a check-in
    "ok": "checkin.ok",
    "already": "checkin.already",
    "not_expected": "checkin.not_expected",
    "cancelled": "checkin.cancelled",
    "too_early": "checkin.too_early",
    "too_late": "checkin.too_late",
    "need_code": "checkin.need_code",
    "wrong_code": "checkin.wrong_code",
    "locked": "checkin.locked",
}
LEAVE_ANSWER = {  # bot.services.meetings.Answer, for a leave
    "ok": "leave.ok",
    "already": "leave.already",
    "started": "leave.started",
    "present": "leave.present",
}
AUDIENCE = {  # who a collection asks
    "all": "ask.audience_all",
    "full": "ask.audience_full",
    "committee": "ask.audience_committee",
    "path": "ask.audience_path",
}
JOIN_UNDECIDED = {  # bot.services.linking.JoinState when a manager's press decided nothing
    "already_decided": "join.already_decided",
    "member_gone": "join.member_gone",
    "account_linked": "join.account_linked",
}
BIND_RESULT = {  # bot.services.linking.BindState
    "bound": "bind.bound",
    "moved": "bind.moved",
    "already": "bind.already",
    "taken": "bind.taken",
}
CSV_STILL_NEEDED = {"members": "import.csv_need_members", "orgs": "import.csv_need_orgs"}
