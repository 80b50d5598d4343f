"""The message catalogues (bot/i18n/zh.po, en.po): both languages say the same things with the
same placeholders, every key the code names exists, none is composed at run time, and none
sits unused."""

from __future__ import annotations

import ast
import re
import string
from datetime import UTC, date, datetime
from pathlib import Path

import polib
import pytest

from bot.i18n import names
from bot.i18n.texts import LANGS, Lang, catalogue, fmt_date, fmt_moment, period_label, t
from bot.rules.calendar import Status
from bot.rules.commands import COMMANDS
from bot.rules.workdays import Source
from bot.services.meetings import Answer
from bot.services.reports import KINDS

REPO = Path(__file__).resolve().parents[3]
KEY = re.compile(r"^[a-z_]+(\.[a-z0-9_]+)+$")
CODE = [p for d in ("bot", "handlers", "jobs") for p in sorted((REPO / d).rglob("*.py"))]


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def po(lang: Lang) -> polib.POFile:
    return polib.pofile(str(REPO / "bot" / "i18n" / f"{lang}.po"))


def test_both_languages_have_the_same_keys() -> None:
    zh, en = set(catalogue("zh")), set(catalogue("en"))
    assert sorted(zh - en) == [] and sorted(en - zh) == []


def test_both_languages_use_the_same_placeholders() -> None:
    differ = {
        key: (placeholders(text), placeholders(catalogue("en")[key]))
        for key, text in catalogue("zh").items()
        if placeholders(text) != placeholders(catalogue("en")[key])
    }
    assert differ == {}


@pytest.mark.parametrize("lang", LANGS)
def test_every_text_is_translated_and_marked(lang: Lang) -> None:
    entries = list(po(lang))
    assert [e.msgid for e in entries if not e.msgstr.strip()] == []
    assert [e.msgid for e in entries if e.fuzzy or e.obsolete] == []
    wrongly_marked = [
        e.msgid
        for e in entries
        if bool(placeholders(e.msgstr)) != ("python-brace-format" in e.flags)
    ]
    assert wrongly_marked == [], (
        "mark texts with {placeholders} python-brace-format (and only them)"
    )
    assert len({e.msgid for e in entries}) == len(entries), "a key appears twice"


@pytest.mark.parametrize("lang", LANGS)
def test_every_text_formats_with_its_placeholders(lang: Lang) -> None:
    for key, text in catalogue(lang).items():
        filled = t(lang, key, **{name: "X" for name in placeholders(text)})
        assert "{" not in filled.replace("{{", ""), key


def named_keys() -> dict[str, list[str]]:
    """Every key the code names: a literal given to t() or as key=/title_key=, the literal
    message of an ...Error, and literals in tuples and dicts whose items are all keys."""
    found: dict[str, list[str]] = {}

    def add(node: ast.AST, where: str) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.setdefault(node.value, []).append(where)
        elif isinstance(node, ast.IfExp):
            add(node.body, where)
            add(node.orelse, where)

    for path in CODE:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(REPO).as_posix()
        for node in ast.walk(tree):
            where = f"{rel}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                f = node.func
                name = (
                    f.id
                    if isinstance(f, ast.Name)
                    else f.attr
                    if isinstance(f, ast.Attribute)
                    else ""
                )
                if name == "t" and len(node.args) >= 2:
                    add(node.args[1], where)
                if name.endswith("Error") and node.args:
                    add(node.args[0], where)
                for kw in node.keywords:
                    if kw.arg in ("key", "title_key"):
                        add(kw.value, where)
            items: list[ast.expr] = []
            if isinstance(node, ast.Tuple | ast.List):
                items = list(node.elts)
            elif isinstance(node, ast.Dict):
                items = [v for v in node.values if v is not None]
            literal = [
                i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)
            ]
            is_table = items and len(literal) == len(items) and all(KEY.match(v) for v in literal)
            if is_table and any(v in catalogue("zh") for v in literal):  # a table of keys
                for i in items:
                    add(i, where)
    return {k: v for k, v in found.items() if KEY.match(k)}


def test_every_key_the_code_names_exists() -> None:
    missing = {k: w for k, w in named_keys().items() if k not in catalogue("zh")}
    assert missing == {}


def test_every_key_in_the_catalogue_is_named_by_the_code() -> None:
    literals = set()
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
    assert sorted(set(catalogue("zh")) - literals) == [], "remove texts nothing uses"


def test_no_key_is_composed_at_run_time() -> None:
    composed = []
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = (
                f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            )
            args = node.args[1:2] if name == "t" else []
            texts = ("key", "title_key") if name == "refuse" else ("title_key",)
            args += [kw.value for kw in node.keywords if kw.arg in texts]
            composed += [
                f"{path.relative_to(REPO)}:{node.lineno}"
                for a in args
                if isinstance(a, ast.JoinedStr | ast.BinOp)
            ]
    assert composed == [], "name the key in bot/i18n/names.py instead"


def test_the_maps_cover_every_code() -> None:
    assert set(names.REPORT_KIND) == set(KINDS)
    assert set(names.STATUS) == {s.value for s in Status}
    assert set(names.HOLIDAY_SOURCE) == {s.value for s in Source}
    assert set(names.COMMAND) == {c.name for c in COMMANDS}
    assert set(names.CHECKIN_ANSWER) | set(names.LEAVE_ANSWER) == {a.value for a in Answer}


def test_dates_and_periods_read_as_before() -> None:
    day = date(2026, 9, 30)
    assert fmt_date("zh", day) == "9月30日（周三）" and fmt_date("en", day) == "Wed 30 Sep"
    moment = datetime(2026, 9, 30, 6, 30, tzinfo=UTC)
    assert fmt_moment("zh", moment, "Asia/Shanghai") == "9月30日（周三） 14:30"
    q3 = (date(2026, 7, 1), date(2026, 9, 30))
    assert period_label("zh", *q3) == "2026年第三季度" and period_label("en", *q3) == "Q3 2026"
    h1 = (date(2026, 1, 1), date(2026, 6, 30))
    assert period_label("zh", *h1) == "2026年上半年" and period_label("en", *h1) == "H1 2026"
    assert period_label("zh", date(2026, 3, 1), date(2026, 3, 31)) == "2026年3月"
    assert period_label("en", date(2026, 1, 1), date(2026, 12, 31)) == "2026"
    assert period_label("zh", date(2026, 3, 5), date(2026, 3, 31)) == "截至 2026-03-31"
    assert period_label("en", date(2026, 3, 5), date(2026, 3, 31)) == "until 2026-03-31"
