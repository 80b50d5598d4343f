"""Every inline button the bot shows, declared once: its kind, its fields and their types.

A button is a frozen dataclass registered under a family prefix and an action
(``@button("mt", "c")``). ``encode`` writes its callback data, ``prefix:action:field…``,
and refuses anything over Telegram's 64 bytes; ``decode`` reads callback data back into the
dataclass, or gives None for anything that is not exactly a declared button (unknown kind,
wrong number of fields, a field of the wrong shape). Callback data comes from the user's
client and is never trusted: decode is the only way in.

Field types: ``int`` (0 … 10^18), ``str`` (1–40 of ``A–Z a–z 0–9 _ -``), ``date``
(``YYYYMMDD``). Pure: no Telegram types; ``handlers/kit`` turns rows of (label, button)
into keyboards, and notices in the outbox carry such rows too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, ClassVar, TypeVar, cast, dataclass_transform, get_type_hints

MAX_BYTES = 64  # Telegram's limit for callback data
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_ACTION = re.compile(r"^[A-Za-z0-9_-]{1,40}(:[A-Za-z0-9_-]{1,40})?$")
_PREFIX = re.compile(r"^[a-z]{1,4}$")


class Button:
    """Base of every button kind; subclasses are frozen dataclasses made by ``@button``."""

    prefix: ClassVar[str]
    action: ClassVar[str]


KINDS: dict[tuple[str, str], type[Button]] = {}
_FIELD_TYPES: dict[type[Button], tuple[tuple[str, type], ...]] = {}
B = TypeVar("B", bound=Button)


@dataclass_transform(frozen_default=True)
def button(prefix: str, action: str) -> Callable[[type[B]], type[B]]:
    """Declare a button kind: ``@button("mt", "c")`` above a class with typed fields."""
    if not _PREFIX.match(prefix) or not _ACTION.match(action):
        raise ValueError(f"bad button kind {prefix}:{action}")

    def register(cls: type[B]) -> type[B]:
        made = dataclass(frozen=True)(cls)
        if (prefix, action) in KINDS:
            raise ValueError(f"button kind {prefix}:{action} declared twice")
        hints = get_type_hints(made)
        types = tuple((f.name, hints[f.name]) for f in fields(cast(Any, made)))
        if any(kind not in (int, str, date) for _, kind in types):
            raise TypeError(f"{cls.__name__}: fields may be int, str or date")
        made.prefix, made.action = prefix, action
        KINDS[(prefix, action)] = made
        _FIELD_TYPES[made] = types
        return made

    return register


def _write(value: object) -> str:
    if isinstance(value, bool):
        raise TypeError("a button field is int, str or date")
    if isinstance(value, int):
        if not 0 <= value < 10**18:
            raise ValueError(f"button number out of range: {value}")
        return str(value)
    if isinstance(value, date):
        return f"{value:%Y%m%d}"
    if isinstance(value, str) and _TOKEN.match(value):
        return value
    raise ValueError(f"button text must be 1-40 of A-Z a-z 0-9 _ -: {value!r}")


def _read(text: str, kind: type) -> object | None:
    if kind is int:
        return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
    if kind is date:
        if len(text) != 8 or not (text.isascii() and text.isdigit()):
            return None
        try:
            return datetime.strptime(text, "%Y%m%d").date()
        except ValueError:
            return None
    return text if _TOKEN.match(text) else None


def encode(b: Button) -> str:
    """The callback data of a button; a button that would not fit is a programming error."""
    values = [_write(getattr(b, name)) for name, _ in _FIELD_TYPES[type(b)]]
    data = ":".join([b.prefix, b.action, *values])
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data over {MAX_BYTES} bytes: {data!r}")
    return data


def decode(data: str | None) -> Button | None:
    """The button this callback data names, or None if it is not exactly one we declared.

    An action may be two words (``rp:m:hand`` beside ``rp:m:<meeting id>``): the longer
    declared action is tried first."""
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    prefix, *parts = data.split(":")
    for words in (2, 1):
        cls = KINDS.get((prefix, ":".join(parts[:words]))) if len(parts) >= words else None
        if cls is None:
            continue
        texts, types = parts[words:], _FIELD_TYPES[cls]
        if len(texts) != len(types):
            return None
        values = [_read(text, kind) for text, (_, kind) in zip(texts, types, strict=True)]
        return None if any(v is None for v in values) else cls(*values)
    return None


def family(prefix: str) -> str:
    """The pattern that routes a family's callback data to its handler."""
    if not any(p == prefix for p, _ in KINDS):
        raise ValueError(f"no button declared with prefix {prefix!r}")
    return f"^{re.escape(prefix)}:"


Row = list[tuple[str, Button]]  # (label, button) pairs, left to right
Rows = list[Row]


def rows_of(buttons: Sequence[tuple[str, Button]], per_row: int) -> Rows:
    """Buttons laid out ``per_row`` to a row."""
    return [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


def pager(
    page: int, pages: int, turn_to: Callable[[int], Button], *, label: str | None = None
) -> Row:
    """‹ and › (and, given a label, the current page between them) for a paged list."""
    row: Row = []
    if page > 0:
        row.append(("‹", turn_to(page - 1)))
    if label is not None and pages > 1:
        row.append((label, turn_to(page)))
    if page < pages - 1:
        row.append(("›", turn_to(page + 1)))
    return row


def stored(rows: Rows) -> dict[str, Any]:
    """Buttons as a notice in the outbox keeps them; the sender renders them for Telegram."""
    return {"buttons": [[[label, encode(b)] for label, b in row] for row in rows]}


# ---------------------------------------------------------------- the buttons
# One declaration per kind; handlers match on the classes. The wire format stays short.


# /lang
@button("lang", "zh")
class LangChinese(Button):
    pass


@button("lang", "en")
class LangEnglish(Button):
    pass


# /invite and /roster
@button("inv", "q")
class InviteQr(Button):
    member_id: int


@button("inv", "p")
class InvitePage(Button):
    org_id: int
    page: int


@button("inv", "j")
class InviteJoinLink(Button):
    org_id: int


@button("ros", "p")
class RosterPage(Button):
    org_id: int
    page: int


# /bind in a group: only the manager who asked may answer
@button("bd", "y")
class BindYes(Button):
    org_id: int
    owner: int


@button("bd", "n")
class BindNo(Button):
    org_id: int
    owner: int


# linking by personal link, and join requests
@button("lk", "y")
class LinkYes(Button):
    token: str


@button("lk", "n")
class LinkNo(Button):
    pass


@button("jr", "a")
class JoinApprove(Button):
    request_id: int
    member_id: int


@button("jr", "r")
class JoinReject(Button):
    request_id: int


# pages of /overview and /assess
@button("pg", "o")
class OverviewPage(Button):
    page: int


# one's own morning briefing (/settings me)
@button("bf", "s")
class BriefShow(Button):
    pass


@button("bf", "m")
class BriefMode(Button):
    mode: str  # a BriefingMode, checked by the service


@button("bf", "t")
class BriefAt(Button):
    hhmm: str  # "0830", or "branch" for the branch's time; checked by the service


@button("bf", "q")
class BriefMute(Button):
    days: int


@button("bf", "d")
class BriefMuteAsk(Button):
    pass


@button("bf", "u")
class BriefUnmute(Button):
    pass


# a branch picked for a command (an admin named none, or part of a name)
@button("br", "p")
class BranchPick(Button):
    command: str
    org_id: int


@button("br", "g")
class BranchPage(Button):
    command: str
    page: int


@button("pg", "a")
class AssessPage(Button):
    year: int
    page: int


# /settings
@button("set", "o")
class SettingsObligation(Button):
    org_id: int
    code: str


@button("set", "off")
class SettingsTurnOff(Button):
    org_id: int
    code: str


@button("set", "on")
class SettingsTurnOn(Button):
    org_id: int
    code: str


@button("set", "m")
class SettingsMain(Button):
    org_id: int


@button("set", "td")
class SettingsThemeDay(Button):
    org_id: int


@button("set", "tdx")
class SettingsThemeDayClear(Button):
    org_id: int


@button("set", "cm")
class SettingsCheckinMode(Button):
    org_id: int


@button("set", "r")
class SettingsReminders(Button):
    org_id: int


@button("set", "ra")
class SettingsRemindAt(Button):
    org_id: int
    hhmm: str  # one of the reminder times, as 0900


@button("set", "ro")
class SettingsRemindOffsets(Button):
    org_id: int
    offsets: str  # one of the choices, as 10-5-2-0


@button("set", "rq")
class SettingsQuiet(Button):
    org_id: int
    span: str  # one of the quiet hours, as 2200-0800


# /meet: scheduling a meeting step by step
@button("mk", "t")
class MeetKind(Button):
    kind: str  # an obligation code, or "other"


@button("mk", "g")
class MeetGroup(Button):
    group_id: int


@button("mk", "d")
class MeetDay(Button):
    day: date


@button("mk", "h")
class MeetTime(Button):
    hhmm: str  # "1430"


@button("mk", "o")
class MeetOnline(Button):
    pass


@button("mk", "s")
class MeetSkipTopic(Button):
    pass


@button("mk", "a")
class MeetAlso(Button):
    code: str


@button("mk", "f")
class MeetAlsoDone(Button):
    pass


@button("mk", "y")
class MeetConfirm(Button):
    pass


@button("mk", "n")
class MeetAbandon(Button):
    pass


# a meeting: the card's buttons and the managers' buttons
@button("mt", "c")
class CheckIn(Button):
    meeting_id: int


@button("mt", "l")
class Leave(Button):
    meeting_id: int


@button("mt", "t")
class ChangeWhen(Button):
    meeting_id: int


@button("mt", "w")
class ChangePlace(Button):
    meeting_id: int


@button("mt", "x")
class CancelMeeting(Button):
    meeting_id: int


@button("mt", "p")
class ProxyPage(Button):
    meeting_id: int
    page: int


@button("mt", "q")
class ProxySignIn(Button):
    meeting_id: int
    member_id: int


@button("mt", "m")
class MeetManage(Button):  # a meeting listed by /meet: its manage buttons
    meeting_id: int


@button("mt", "k")
class ShowCode(Button):
    meeting_id: int


@button("mt", "d")
class ChangeDay(Button):
    meeting_id: int
    day: date


@button("mt", "h")
class ChangeTime(Button):
    meeting_id: int
    hhmm: str


# /report
@button("rp", "k")
class ReportKind(Button):
    kind: str


@button("rp", "b")
class ReportFromBriefing(Button):  # 提交 under a briefing: the briefing stays
    kind: str


@button("rp", "d")
class RecordDay(Button):
    day: date


@button("rp", "m")
class RecordMeeting(Button):
    meeting_id: int


@button("rp", "m:hand")
class RecordByHand(Button):
    pass


@button("rp", "t")
class RecordType(Button):
    kind: str  # a meeting obligation, or "other"


@button("rp", "f")
class RecordFirstTopic(Button):
    yes: int  # 1 or 0


@button("rp", "p")
class ReportPreview(Button):
    pass


@button("rp", "o")
class RecordCounts(Button):
    code: str


@button("rp", "y")
class ReportConfirm(Button):
    pass


@button("rp", "n")
class ReportAbandon(Button):
    pass


@button("rp", "ed")
class ReportEdit(Button):
    record_id: int


@button("rp", "wd")
class ReportWithdraw(Button):
    record_id: int


@button("rp", "wy")
class ReportWithdrawConfirm(Button):
    record_id: int


# /ask collections
@button("ak", "s")
class AskSubmit(Button):
    collection_id: int


@button("ak", "v")
class AskView(Button):
    collection_id: int


@button("ak", "r")
class AskRemind(Button):
    collection_id: int


@button("ak", "k")
class AskKind(Button):
    kind: str


@button("ak", "d")
class AskDay(Button):
    day: date


@button("ak", "a")
class AskAudience(Button):
    audience: str


@button("ak", "y")
class AskConfirm(Button):
    pass


@button("ak", "t")
class AskTake(Button):
    collection_id: int


@button("ak", "x")
class AskNotThis(Button):
    pass


@button("ak", "n")
class AskAbandon(Button):
    pass
