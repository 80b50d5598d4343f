"""``zhibu calendar``, ``zhibu reminders`` and ``zhibu holidays`` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bot.ops.test_cli import zhibu
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, workbook_bytes

KEYS = {"obligation", "org", "member", "period_start", "period_end", "deadline", "last_workday",
        "status", "required", "count", "reminders", "escalations"}  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "r.xlsx").write_bytes(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    assert zhibu("import", "r.xlsx", cwd=tmp_path).returncode == 0
    return tmp_path


def test_calendar_json_has_the_spec_keys(workdir: Path) -> None:
    result = zhibu(
        "calendar", "--org", "ZB", "--year", "2026", "--json", "--at", "2026-05-20", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert all(set(r) == KEYS for r in rows)
    feb = next(
        r for r in rows if r["obligation"] == "theme_day" and r["period_start"] == "2026-02-01"
    )
    assert feb["last_workday"] == "2026-02-28" and feb["deadline"] == "2026-02-28"
    assert feb["reminders"] == [
        "2026-02-09T09:00:00+08:00", "2026-02-14T09:00:00+08:00",
        "2026-02-26T09:00:00+08:00", "2026-02-28T09:00:00+08:00",
    ]  # fmt: skip
    assert feb["escalations"] == ["2026-03-02T09:00:00+08:00", "2026-03-04T09:00:00+08:00"]
    assert feb["status"] == "missed"
    may = next(
        r for r in rows if r["obligation"] == "theme_day" and r["period_start"] == "2026-05-01"
    )
    assert may["status"] == "open" and may["member"] is None
    members = {r["member"] for r in rows if r["obligation"] == "thought_report"}
    assert members == {"S004", "S005"}
    assert {r["org"] for r in rows if r["obligation"] == "group_meeting"} == {"ZB/第一党小组"}


def test_calendar_table_and_unknown_org(workdir: Path) -> None:
    table = zhibu("calendar", "--org", "ZB", "--year", "2026", "--at", "2026-05-20", cwd=workdir)
    assert "第一党支部（ZB）2026 年工作日历" in table.stdout
    assert "钱预备" in table.stdout and "2026年第二季度" in table.stdout
    missing = zhibu("calendar", "--org", "NOPE", "--year", "2026", cwd=workdir)
    assert missing.returncode == 2 and "NOPE" in missing.stderr


def briefings(workdir: Path, *args: str) -> dict[object, dict[str, object]]:
    result = zhibu("reminders", *args, "--json", env={"ZHIBU_ADMIN_IDS": "77"}, cwd=workdir)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert all(set(b) == {"recipient", "delivery", "at", "items", "text"} for b in found)
    by_recipient = {b["recipient"]: b for b in found}
    assert len(by_recipient) == len(found)  # one scheduled message per person
    return by_recipient


def kinds(b: dict[str, object], obligation: str | None = None) -> set[str]:
    items = b["items"]
    assert isinstance(items, list)
    return {i["kind"] for i in items if obligation is None or i["obligation"] == obligation}


def test_reminders_of_a_day_one_briefing_per_person(workdir: Path) -> None:
    day = briefings(workdir, "--day", "2026-06-30")
    assert set(day) >= {"S001", "S002", "S004", "S005"}
    secretary = day["S001"]
    assert secretary["delivery"] == "unlinked" and secretary["at"] == "2026-06-30T08:30:00+08:00"
    # the last workday of the quarter: the reminder and the digest's line, merged
    assert kinds(secretary, "general_meeting") == {"reminder", "digest"}
    assert "2026年第二季度" in str(secretary["text"])
    assert str(secretary["text"]).count("支部党员大会（2026年第二季度）") == 1
    assert "支部党员大会（2026年第二季度）0/1，今天是最后一个工作日" in str(secretary["text"])
    assert kinds(day["S004"]) == {"reminder"} and "思想汇报" in str(day["S004"]["text"])
    # an escalation on the third workday after the deadline goes to the admins above
    late = briefings(workdir, "--day", "2026-04-03")
    assert kinds(late[77], "general_meeting") == {"oversight"}
    assert "第一党支部" in str(late[77]["text"]) and "已逾期" in str(late[77]["text"])
    # --at: the briefings due at that minute only
    assert set(briefings(workdir, "--at", "2026-06-30T08:30")) == set(day)
    quiet = zhibu("reminders", "--at", "2026-06-30T23:00", cwd=workdir)
    assert "没有要发送的提醒" in quiet.stdout
    table = zhibu("reminders", "--day", "2026-06-30", cwd=workdir)
    assert "08:30 → S001（unlinked）" in table.stdout and "今日简报" in table.stdout
    bad = zhibu("reminders", "--at", "tomorrow", cwd=workdir)
    assert bad.returncode == 2 and "'tomorrow' 不是日期" in bad.stderr
    neither = zhibu("reminders", cwd=workdir)
    assert neither.returncode == 2


def test_political_birthday(workdir: Path) -> None:
    day = briefings(workdir, "--day", "2026-07-01")
    greeted = sorted(str(k) for k, b in day.items() if "birthday" in kinds(b))
    assert greeted == ["S001", "S002", "S003", "S005"]
    assert "25 周年" in str(day["S001"]["text"])


def test_holidays_import_and_show(workdir: Path) -> None:
    show = zhibu("holidays", "show", "2031", cwd=workdir)
    assert "没有官方数据" in show.stdout
    (workdir / "h.txt").write_text(
        "# 2031\n2031-10-01..2031-10-07 holiday 国庆节\n2031-09-28 workday 国庆节调休\n2031-10-11 workday\n",
        encoding="utf-8",
    )
    imported = zhibu("holidays", "import", "h.txt", cwd=workdir)
    assert imported.returncode == 0, imported.stderr
    assert "2031 年已导入：放假 7 天，调休上班 2 天" in imported.stdout
    show = zhibu("holidays", "show", "2031", cwd=workdir)
    assert "运维导入的数据（h.txt）" in show.stdout and "2031-10-11" in show.stdout
    (workdir / "bad.txt").write_text(
        "2031-10-01 holiday\n2031-10-08 workday\nxx\n", encoding="utf-8"
    )
    bad = zhibu("holidays", "import", "bad.txt", env={"ZHIBU_LANGUAGE": "en"}, cwd=workdir)
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == [
        "line 2: 2031-10-08 is a workday anyway; make-up workdays fall on Saturdays or Sundays",
        "line 3: each line is “DATE KIND [NAME]”, e.g. 2027-02-06..2027-02-12 holiday 春节",
    ]
    # the calendar now follows the import
    rows = json.loads(
        zhibu("calendar", "--org", "ZB", "--year", "2031", "--json", cwd=workdir).stdout
    )
    q3 = next(
        r
        for r in rows
        if r["obligation"] == "general_meeting" and r["period_start"] == "2031-07-01"
    )
    assert q3["escalations"][0] == "2031-10-08T09:00:00+08:00"


def test_obligations_command(workdir: Path) -> None:
    assert (
        zhibu(
            "obligations",
            "off",
            "--org",
            "ZB",
            "--code",
            "party_lecture",
            "--reason",
            "x",
            cwd=workdir,
        ).returncode
        == 2
    )
    off = zhibu(
        "obligations",
        "off",
        "--org",
        "ZB",
        "--code",
        "party_lecture",
        "--reason",
        "合并开展",
        cwd=workdir,
    )
    assert off.returncode == 0, off.stderr
    assert (
        zhibu(
            "obligations",
            "set",
            "--org",
            "ZB",
            "--code",
            "theme_day",
            "--period",
            "quarter",
            "--min",
            "2",
            cwd=workdir,
        ).returncode
        == 0
    )
    added = zhibu(
        "obligations",
        "add",
        "--org",
        "ZB",
        "--title",
        "保密教育",
        "--due",
        "2026-06-15",
        cwd=workdir,
    )
    assert added.returncode == 0 and "custom_" in added.stdout
    listing = zhibu("obligations", "list", "--org", "ZB", cwd=workdir).stdout
    assert "off party_lecture" in listing and "合并开展" in listing
    assert "theme_day" in listing and "quarter ×2" in listing
    assert "保密教育" in listing and "due 2026-06-15" in listing
    bad = zhibu(
        "obligations", "set", "--org", "ZB", "--code", "heart_talks", "--min", "3", cwd=workdir
    )
    assert bad.returncode == 2 and "覆盖" in bad.stderr
    rows = json.loads(
        zhibu(
            "calendar", "--org", "ZB", "--year", "2026", "--json", "--at", "2026-05-20", cwd=workdir
        ).stdout
    )
    assert {r["status"] for r in rows if r["obligation"] == "party_lecture"} == {"not_applicable"}
    assert len([r for r in rows if r["obligation"] == "theme_day"]) == 4
    table = zhibu(
        "calendar", "--org", "ZB", "--year", "2026", "--at", "2026-05-20", cwd=workdir
    ).stdout
    assert "保密教育" in table and "custom_" not in table
