"""The ``zhibu`` command as an operator runs it, in a subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from openpyxl import load_workbook

from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, TOKEN, big_roster, workbook_bytes


def zhibu(
    *args: str, env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ZHIBU_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot.ops.cli", *args],
        capture_output=True,
        text=True,
        env=clean,
        cwd=cwd,
        timeout=120,
    )


def test_run_without_token_prints_one_line(tmp_path: Path) -> None:
    result = zhibu("run", cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "ZHIBU_BOT_TOKEN" in lines[0]
    assert result.stdout == ""


def test_bad_setting_is_named(tmp_path: Path) -> None:
    result = zhibu(
        "run", env={"ZHIBU_TIMEZONE": "Mars/Base", "ZHIBU_BOT_TOKEN": TOKEN}, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "ZHIBU_TIMEZONE" in result.stderr and "Traceback" not in result.stderr


def test_template_import_and_reimport(tmp_path: Path) -> None:
    result = zhibu("import", "--template", "t.xlsx", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    wb = load_workbook(tmp_path / "t.xlsx")
    assert wb.sheetnames == ["组织", "党员", "会议记录"]
    assert [c.value for c in wb["党员"][1]][:2] == ["组织编码", "姓名"]
    assert [c.value for c in wb["组织"][1]][-1] == "启用日期"
    assert wb["组织"].max_row == 2 and wb["党员"].max_row == 2 and wb["会议记录"].max_row == 2
    # the template itself imports, its meetings too, once
    assert zhibu("import", "t.xlsx", cwd=tmp_path).returncode == 0
    records = zhibu("records", "import", "t.xlsx", cwd=tmp_path)
    assert records.returncode == 0, records.stderr
    assert "会议记录已导入：新增 1，已有 0" in records.stdout
    assert "JG01 改为自 2026-01-01 起启用" in records.stdout  # judged on the year backfilled
    again = zhibu("records", "import", "t.xlsx", cwd=tmp_path)
    assert "新增 0，已有 1" in again.stdout

    (tmp_path / "roster.xlsx").write_bytes(workbook_bytes(*big_roster()))
    first = zhibu("import", "roster.xlsx", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "组织：新增 14" in first.stdout and "党小组：新增 20" in first.stdout
    assert "党员：新增 300" in first.stdout
    second = zhibu("import", "roster.xlsx", cwd=tmp_path)
    assert second.returncode == 0
    assert "没有任何变化" in second.stdout and "新增 0" in second.stdout


def test_bad_rows_exit_2_and_change_nothing(tmp_path: Path) -> None:
    (tmp_path / "good.xlsx").write_bytes(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    assert zhibu("import", "good.xlsx", cwd=tmp_path).returncode == 0
    before = (tmp_path / "zhibu.db").read_bytes()
    bad = [list(r) for r in SMALL_MEMBERS]
    bad[0][4] = "主任"  # row 2 role
    bad[1][0] = "NOPE"  # row 3 org
    bad[2][5] = "2026-13-01"  # row 4 date
    (tmp_path / "bad.xlsx").write_bytes(workbook_bytes(SMALL_ORGS, bad))
    result = zhibu("import", "bad.xlsx", env={"ZHIBU_LANGUAGE": "en"}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "3 problems" in lines[0]
    assert lines[1].startswith("[党员] row 2, column E (职务)")
    assert lines[2].startswith("[党员] row 3, column A (组织编码)")
    assert lines[3].startswith("[党员] row 4, column F (入党日期)")
    assert zhibu("import", "bad.xlsx", "--dry-run", cwd=tmp_path).returncode == 2
    dry = zhibu("import", "good.xlsx", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0 and "试运行" in dry.stdout
    assert (tmp_path / "zhibu.db").read_bytes() == before


def test_a_dry_run_never_creates_or_changes_a_database(tmp_path: Path) -> None:
    (tmp_path / "good.xlsx").write_bytes(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    first = zhibu("import", "good.xlsx", "--dry-run", cwd=tmp_path)
    assert first.returncode == 0 and "按空数据库检查" in first.stdout
    assert "新增 2" in first.stdout  # what a real import would do
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.xlsx"]  # no zhibu.db
    assert zhibu("import", "good.xlsx", cwd=tmp_path).returncode == 0
    changed = [list(r) for r in SMALL_MEMBERS]
    changed[2][1] = "张三丰"
    (tmp_path / "changed.xlsx").write_bytes(workbook_bytes(SMALL_ORGS, changed))
    dry = zhibu("import", "changed.xlsx", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0 and "按空数据库检查" not in dry.stdout
    assert "更新 1，未变 4" in dry.stdout  # judged against what is stored
    with closing(sqlite3.connect(tmp_path / "zhibu.db")) as stored:
        (name,) = stored.execute("SELECT name FROM members WHERE member_code = 'S003'").fetchone()
    assert name == "张三"  # and nothing written
    listed = zhibu("calendar", "--org", "zb", "--year", "2026", cwd=tmp_path)
    assert listed.returncode == 0 and "第一党支部" in listed.stdout  # codes in any case
    # no holiday warning in a command's output (start-up and `zhibu doctor` say it)
    assert "holiday" not in dry.stderr + listed.stderr


def test_csv_import(tmp_path: Path) -> None:
    (tmp_path / "o.csv").write_text(
        "code,name,parent_code,kind\nB1,Branch one,,branch\n", encoding="utf-8"
    )
    (tmp_path / "m.csv").write_text(
        "org_code,name,member_code,role\nB1,Li Lei,1,secretary\n", encoding="utf-8"
    )
    result = zhibu("import", "--orgs", "o.csv", "--members", "m.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    missing = zhibu("import", "--orgs", "nothere.csv", "--members", "m.csv", cwd=tmp_path)
    assert missing.returncode == 2 and "nothere.csv" in missing.stderr


def test_admins_and_doctor(tmp_path: Path) -> None:
    (tmp_path / "good.xlsx").write_bytes(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    zhibu("import", "good.xlsx", cwd=tmp_path)
    assert zhibu("admins", "add", "--org", "DW", "--user", "42", cwd=tmp_path).returncode == 0
    assert "DW\t42" in zhibu("admins", "list", cwd=tmp_path).stdout
    nope = zhibu("admins", "add", "--org", "NOPE", "--user", "42", cwd=tmp_path)
    assert nope.returncode == 2 and "没有编码为 NOPE 的组织" in nope.stderr
    away = {"ZHIBU_API_BASE_URL": "http://127.0.0.1:9/bot"}
    doctor = zhibu("--lang", "en", "doctor", env=away, cwd=tmp_path)
    assert doctor.returncode == 1
    assert "[FAIL] settings: ZHIBU_BOT_TOKEN is not set" in doctor.stdout
    assert "[ok  ] migrations" in doctor.stdout
    # one language at a time: the settings' (Chinese by default), none of the other
    chinese = zhibu("doctor", env=away, cwd=tmp_path)
    assert "[FAIL] 设置: 未设置 ZHIBU_BOT_TOKEN" in chinese.stdout
    assert "处理：" in chinese.stdout and "fix:" not in chinese.stdout
    assert "settings" not in chinese.stdout and "migrations" not in chinese.stdout


def test_migrate_command(tmp_path: Path) -> None:
    result = zhibu("migrate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "zhibu.db").exists()
    assert zhibu("migrate", "--to", "base", cwd=tmp_path).returncode == 0
    doctor = zhibu(
        "doctor",
        env={
            "ZHIBU_BOT_TOKEN": TOKEN,
            "ZHIBU_API_BASE_URL": "http://127.0.0.1:9/bot",
            "ZHIBU_LANGUAGE": "en",
        },
        cwd=tmp_path,
    )
    assert "run: zhibu migrate" in doctor.stdout
    assert "[FAIL] bot api: unreachable" in doctor.stdout
    assert TOKEN not in doctor.stdout + doctor.stderr


def test_a_5_mb_hostile_workbook_is_refused_within_its_time_budget(tmp_path: Path) -> None:
    """Declared dimension XFD1048576, 100,000 rows of formulas and a shared-strings bomb,
    under 5 MB: `zhibu import` refuses it for what it is, saying why, imports nothing, and
    never takes longer than the reader's budget (PARSE_SECONDS, after which the reading child
    is killed) plus the start of the command. How fast it is (about 2 s and 5 s here) is
    printed, not asserted: the machine is shared."""
    from bot.services.roster import PARSE_SECONDS
    from tests.bot.services.test_roster import hostile_workbook

    data = hostile_workbook(rows=100_000, bomb_mb=300, pad_to=5_000_000)
    assert 4_500_000 < len(data) < 5 * 1024 * 1024
    (tmp_path / "hostile.xlsx").write_bytes(data)
    started = time.monotonic()
    result = zhibu("import", "hostile.xlsx", cwd=tmp_path)
    elapsed = time.monotonic() - started
    print(f"\nzhibu import of a {len(data) // 1024} KB hostile workbook: {elapsed:.1f}s")
    assert result.returncode == 2 and "解压后超过 200 MB" in result.stderr
    assert elapsed < PARSE_SECONDS + 10
    (tmp_path / "rows.xlsx").write_bytes(hostile_workbook(rows=100_000))
    started = time.monotonic()
    result = zhibu("import", "rows.xlsx", cwd=tmp_path)
    elapsed = time.monotonic() - started
    print(f"zhibu import of 100,000 hostile rows: {elapsed:.1f}s")
    assert result.returncode == 2 and "名册未导入" in result.stderr
    assert "未能读完" not in result.stderr  # refused for its content, not for taking too long
    assert elapsed < PARSE_SECONDS + 10
