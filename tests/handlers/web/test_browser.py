"""The Mini App in a real browser: Debian's headless Chromium driven by Playwright opens /app
with launch data signed with the test token, as Telegram would open it, for a member, a
secretary and a committee admin; each sees their view from a database filled through the
chat, does what the view is for, and the chat shows it. Forged or expired launch data sees
nothing. Screenshots at 390×844 go to artifacts/screenshots (kept by CI, not committed)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import Browser, Dialog, Page, async_playwright

from tests.handlers.web.conftest import Board, ask_by_chat, code_meeting, local, meet_by_chat

REPO = Path(__file__).resolve().parents[3]
SHOTS = Path(os.environ.get("ZHIBU_SCREENSHOTS", REPO / "artifacts" / "screenshots"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            raise AssertionError("chromium is not installed (.ci/run installs Debian's)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    async with async_playwright() as p:
        found = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield found
        await found.close()


async def opened(
    browser: Browser,
    board: Board,
    telegram_id: int,
    launch: str | None = None,
    query: str = "",
    fragment: str = "",
) -> Page:
    """The app as Telegram opens it: the launch data in the address's fragment."""
    page = await browser.new_page(viewport=PHONE)
    # Telegram's mobile clients give the page this object to talk to the app through
    await page.add_init_script(
        "window.sent = []; window.TelegramWebviewProxy = "
        "{postEvent: (type, data) => window.sent.push([type, JSON.parse(data)])};"
    )
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    data = launch if launch is not None else board.launch(telegram_id)
    theme = quote('{"bg_color":"#ffffff","text_color":"#000000","button_color":"#c0392b"}')
    await page.goto(
        f"{board.url}/app{query}#tgWebAppData={quote(data)}&tgWebAppThemeParams={theme}{fragment}"
    )
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def until(page: Page, expression: str, timeout: float = 10.0) -> None:
    """Wait until ``expression`` is true in the page. Playwright's wait_for_function evaluates
    a string with eval, which the page's own security policy forbids (as it should)."""
    for _ in range(int(timeout / 0.05)):
        if await page.evaluate(expression):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s: {expression}")


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (a test's own folder)
    await page.screenshot(path=str(SHOTS / f"{name}.png"))


async def test_a_member_sees_what_they_owe_and_checks_in(board: Board, browser: Browser) -> None:
    meeting = await meet_by_chat(board, "12-1 9:30")
    await ask_by_chat(board, "12-5 18:00")
    board.clock.set(local("2026-12-01T09:35"))
    member = board.users[5]
    page = await opened(browser, board, member.id)
    await page.wait_for_selector("#who")
    assert "党员05" in await page.inner_text("#who")
    assert "学习心得" in await page.inner_text("main")  # the collection waiting for them
    assert [await t.inner_text() for t in await page.query_selector_all("nav button")] == ["我的"]
    # Telegram's theme colours are taken (dark mode comes the same way, or from the device)
    colour = "getComputedStyle(document.documentElement).getPropertyValue('--tg-button')"
    assert (await page.evaluate(colour)).strip() == "#c0392b"
    await shot(page, "member-me")
    await page.click(f"button[data-meeting='{meeting}']")
    await page.wait_for_selector("#toast:not([hidden])")
    assert await page.inner_text("#toast") == "签到成功"
    await page.wait_for_selector(".meeting .badge.done")
    # the chat shows it: the group card counts the check-in, the private card says it
    group = next(m for m in board.fake.bot_messages(board.group_id) if "支部党员大会" in m.content)
    await board.fake.wait_for(lambda: "已签到 1" in group.content, timeout=10)
    card = next(
        m for m in member.bot_messages() if "应到" in m.content and "支部党员大会" in m.content
    )
    assert "您已签到" in card.content and not card.buttons  # the private card says so too
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_secretary_reads_the_year_and_reminds_the_missing(
    board: Board, browser: Browser
) -> None:
    await meet_by_chat(board, "12-1 9:30")
    await ask_by_chat(board, "12-5 18:00")
    sec = board.users[0]
    page = await opened(browser, board, sec.id, query="?view=branch")
    await page.wait_for_selector("#year-grid rect.cell")
    assert "第一党支部 · 2026" in await page.inner_text("#branch-name")
    states = {
        await r.get_attribute("data-state")
        for r in await page.query_selector_all("#year-grid rect.cell")
    }
    assert {"overdue", "open"} <= states
    legend = await page.inner_text(".legend")
    assert all(word in legend for word in ("已完成", "进行中", "逾期", "未启用"))
    await page.click("#year-grid rect.cell[data-state='overdue']")
    details = await page.inner_text("#occurrence")
    assert "截止日期" in details and "最后工作日" in details and "提醒日" in details
    await page.click("#sheet-close")
    assert "未提交 30" in await page.inner_text(".collection .missing")
    await shot(page, "secretary-branch")
    before = len(board.users[9].bot_messages())
    await page.click(".collection button[data-remind]")
    await page.wait_for_selector("#toast:not([hidden])")
    assert "已提醒 30 人" in await page.inner_text("#toast")
    await board.fake.wait_for(lambda: len(board.users[9].bot_messages()) > before, timeout=10)
    assert "支部提醒" in board.users[9].bot_messages()[-1].content  # in the member's chat
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_committee_admin_sorts_filters_and_drills_down(
    board: Board, browser: Browser
) -> None:
    page = await opened(browser, board, board.admin.id)
    await page.wait_for_selector("#branches tbody tr")
    rows = await page.query_selector_all("#branches tbody tr")
    assert sorted([await r.get_attribute("data-code") for r in rows]) == ["ZB", "ZB2"]
    assert await page.query_selector("#grades rect") is not None  # the grades chart
    await page.click("th[data-key='name']")
    first = await page.get_attribute("#branches tbody tr", "data-code")
    await page.click("th[data-key='name']")
    assert await page.get_attribute("#branches tbody tr", "data-code") != first
    await shot(page, "committee")
    # usable at 360 px: nothing but the table's own scroller is wider than the screen
    await page.set_viewport_size({"width": 360, "height": 740})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await page.fill("#filter", "第二")
    await until(page, "document.querySelectorAll('#branches tbody tr').length === 1")
    await page.click("#branches tbody tr")
    await page.wait_for_selector("#branch-name")
    assert "第二党支部" in await page.inner_text("#branch-name")
    assert page.errors == []  # type: ignore[attr-defined]
    # in English for an admin who chose it in the chat
    await board.admin.ask("/lang en")
    english = await opened(browser, board, board.admin.id)
    await english.wait_for_selector("#branches tbody tr")
    assert "Committee" in await english.inner_text("nav")


async def test_forged_or_expired_launch_data_sees_nothing(board: Board, browser: Browser) -> None:
    sec = board.users[0].id
    expired = board.launch(sec, at=board.clock.now() - timedelta(hours=25))
    forged = board.launch(sec).replace("hash=", "hash=f")
    for name, data in (("expired", expired), ("forged", forged), ("none", "")):
        page = await opened(browser, board, sec, launch=data)
        await page.wait_for_selector("#unauthorized")
        assert "无法验证您的身份" in await page.inner_text("main")
        assert await page.query_selector_all("nav button") == []
        assert "第一党支部" not in await page.content()
        if name == "forged":
            await shot(page, "forged")


async def test_a_code_meeting_asks_for_the_code_shown_in_the_room(
    board: Board, browser: Browser
) -> None:
    meeting, code = await code_meeting(board)
    asked: list[str] = []

    async def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept(str(code))

    page = await opened(browser, board, board.users[6].id)
    page.on("dialog", answer)
    await page.click(f"button[data-meeting='{meeting}']")
    await page.wait_for_selector(".meeting .badge.done")
    assert asked and "签到码" in asked[0]
    assert await page.inner_text("#toast") == "签到成功"


async def test_a_member_asks_for_leave_with_a_reason(board: Board, browser: Browser) -> None:
    meeting = await meet_by_chat(board, "12-2 9:30")
    asked: list[str] = []

    async def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept("出差在外地")

    page = await opened(browser, board, board.users[7].id)
    page.on("dialog", answer)
    await page.click(f"button[data-leave='{meeting}']")
    await page.wait_for_selector(".meeting .badge.done")
    assert asked and "请假原因" in asked[0]
    assert (await page.inner_text("#toast")).startswith("已请假")
    sec = board.users[0]
    await board.fake.wait_for(
        lambda: any("出差在外地" in m.content for m in sec.bot_messages()), timeout=10
    )


async def test_inside_telegram_a_download_is_handed_to_telegram(
    board: Board, browser: Browser
) -> None:
    member = board.users[5]
    page = await opened(browser, board, member.id, fragment="&tgWebAppVersion=8.0")
    await page.wait_for_selector("#who")
    await page.click("text=下载日历 (.ics)")
    await until(page, "window.sent.some(e => e[0] === 'web_app_request_file_download')")
    sent = await page.evaluate("window.sent")
    assert sent[0] == ["web_app_ready", {}]
    asked = next(data for kind, data in sent if kind == "web_app_request_file_download")
    assert asked["file_name"] == "zhibu.ics" and asked["url"].startswith(
        board.url + "/api/ics?uid="
    )
    async with httpx.AsyncClient(timeout=30) as http:  # Telegram fetches it, with no headers
        assert (await http.get(asked["url"])).text.startswith("BEGIN:VCALENDAR")


async def test_in_a_browser_the_ledger_downloads_from_the_page(
    board: Board, browser: Browser
) -> None:
    page = await opened(browser, board, board.users[0].id, query="?view=branch")
    await page.wait_for_selector("#branch-name")
    async with page.expect_download() as pending:
        await page.click("text=下载台账")
    download = await pending.value
    assert download.suggested_filename == "ZB-2026.xlsx"
    path = await download.path()
    assert path is not None and path.read_bytes()[:2] == b"PK"  # the /export workbook
