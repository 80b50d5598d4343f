"""The command list: one table that /help, the Telegram menu and access checks read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Audience = Literal["anyone", "member", "member_or_admin", "manager", "manager_or_admin", "admin"]
Where = Literal["private", "group", "both"]


@dataclass(frozen=True)
class CommandInfo:
    name: str
    audience: Audience
    where: Where


COMMANDS: tuple[CommandInfo, ...] = (
    CommandInfo("start", "anyone", "private"),
    CommandInfo("help", "anyone", "both"),
    CommandInfo("tasks", "member", "private"),
    CommandInfo("report", "member", "private"),
    CommandInfo("calendar", "member_or_admin", "both"),
    CommandInfo("due", "member_or_admin", "both"),
    CommandInfo("meet", "manager_or_admin", "private"),
    CommandInfo("checkin", "member", "both"),
    CommandInfo("leave", "member", "private"),
    CommandInfo("away", "member", "private"),
    CommandInfo("ask", "manager_or_admin", "private"),
    CommandInfo("status", "manager_or_admin", "both"),
    CommandInfo("overview", "admin", "private"),
    CommandInfo("assess", "admin", "private"),
    CommandInfo("export", "manager_or_admin", "private"),
    CommandInfo("ics", "member", "private"),
    CommandInfo("invite", "manager_or_admin", "private"),
    CommandInfo("roster", "manager_or_admin", "private"),
    CommandInfo("settings", "member_or_admin", "private"),  # members: their own briefing
    CommandInfo("bind", "manager", "group"),
    CommandInfo("unbind", "manager_or_admin", "group"),
    CommandInfo("lang", "anyone", "private"),
    CommandInfo("whoami", "anyone", "private"),
    CommandInfo("cancel", "anyone", "private"),
)


def allowed(info: CommandInfo, *, member: bool, manager: bool, admin: bool) -> bool:
    match info.audience:
        case "anyone":
            return True
        case "member":
            return member or manager
        case "member_or_admin":  # admins name the branch: /calendar CODE
            return member or manager or admin
        case "manager":
            return manager
        case "manager_or_admin":
            return manager or admin
        case "admin":
            return admin
    return False


def visible(
    *, where: Literal["private", "group"], member: bool, manager: bool, admin: bool
) -> list[CommandInfo]:
    """Commands this caller may use in this kind of chat, in menu order."""
    return [
        c
        for c in COMMANDS
        if c.where in (where, "both") and allowed(c, member=member, manager=manager, admin=admin)
    ]
