"""The layers stay layers: each part of the code imports only what sits below it.

bot/ is layered bottom-up: i18n < rules < store < services < delivery < exports < ops. A
module imports from its own layer or lower ones, never ``telegram``, ``handlers`` or
``jobs`` (the one exception: ``zhibu run`` in bot/ops/cli.py starts the Application). jobs/
never imports handlers/. handlers/ reach the database only through services (no SQL, no
session, no ORM row) and no handler function grows past 40 lines.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("i18n", "rules", "store", "services", "delivery", "exports", "ops")
TOP_LEVEL_ENTRY = {"bot/ops/cli.py"}  # builds and runs the Application for `zhibu run`

# Direct database use left in handlers/ (sessions opened there, ORM or SQL imported): moving
# each to a service is issue #13's work in progress. A count may go down, never up; when it
# goes down, lower it here.


def imports_of(path: Path) -> list[str]:
    """Every module a file imports (absolute imports; the code uses no relative ones)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            base = node.module or ""
            found.append(base)
            # ``from bot.store import outbox`` imports the module bot.store.outbox
            found += [f"{base}.{alias.name}" for alias in node.names if base.count(".") == 1]
    return found


def source_files(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "bot" and parts[1] in LAYERS else None


def test_every_bot_module_sits_in_a_layer() -> None:
    loose = [
        rel(p) for p in source_files("bot") if p.parent == REPO / "bot" and p.stem != "__init__"
    ]
    assert loose == [], "put each module of bot/ in one of its layers"


@pytest.mark.parametrize("path", source_files("bot"), ids=rel)
def test_bot_modules_import_only_their_own_layer_or_lower(path: Path) -> None:
    own = (
        LAYERS.index(path.relative_to(REPO / "bot").parts[0]) if path.parent != REPO / "bot" else -1
    )
    wrong = []
    for module in imports_of(path):
        top = module.split(".")[0]
        if top in ("telegram", "handlers", "jobs") and rel(path) not in TOP_LEVEL_ENTRY:
            wrong.append(module)
        layer = layer_of(module)
        if layer is not None and LAYERS.index(layer) > own:
            wrong.append(module)
    assert wrong == [], f"{rel(path)} reaches up to {wrong}"


@pytest.mark.parametrize("path", source_files("jobs"), ids=rel)
def test_jobs_do_not_import_handlers(path: Path) -> None:
    assert [m for m in imports_of(path) if m.split(".")[0] == "handlers"] == []


@pytest.mark.parametrize("path", source_files("handlers"), ids=rel)
def test_handlers_hold_no_sql_and_no_database_objects(path: Path) -> None:
    """Handlers parse, call one service, render: no SQL, no session, no ORM row. (Naming the
    ``Database`` type and the store's ``UNAVAILABLE`` errors is allowed: the composition root
    builds the database, the intake and the error handler catch its outages.)"""
    text = path.read_text(encoding="utf-8")
    reached = [
        m
        for m in imports_of(path)
        if m.split(".")[0] == "sqlalchemy" or m.startswith("bot.store.models")
    ]
    sessions = re.findall(r"\bdb\.(?:read|write)\(\)|\bsession\.(?:execute|scalar|get)\b", text)
    assert reached == [], f"{rel(path)} imports {reached}: call a service instead"
    assert sessions == [], f"{rel(path)} opens or uses a session: call a service instead"


HANDLER_FUNCTION_LINES = 40


@pytest.mark.parametrize("path", source_files("handlers"), ids=rel)
def test_handler_functions_are_short(path: Path) -> None:
    """Parse, call a service, render: a handler function that grows past 40 lines is doing a
    service's work (or two steps' worth) and is split."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > HANDLER_FUNCTION_LINES
    ]
    assert long == [], f"{rel(path)}: {long}"
