"""The Mini App's API: launch data or 401; then every endpoint × role × org scope answers as
the chat would (the same use-cases), and a refused call changes nothing and is audited."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from starlette.routing import Route

from bot.ops.doctor import _check_web
from bot.rules.clock import FrozenClock
from bot.store.db import Database
from bot.store.models import Attendance, AuditEntry, OutboxMessage
from handlers.web import api
from settings import Settings
from tests.conftest import ADMIN_ID
from tests.fakegram import FakeTelegram
from tests.handlers.web.conftest import Board, ask_by_chat, code_meeting, local, meet_by_chat, seed
from tests.helpers import RunningBot

OTHER_TOKEN = "987654321:AAF-another-bot-token-0123456789abcd"

# who calls: the key of a Board's person, or the bootstrap admin
WHO = ("secretary", "member", "other_secretary", "admin", "far_admin", "bootstrap", "stranger")


def row(ok: set[str], declined: set[str] = frozenset(), **_: object) -> dict[str, int]:  # type: ignore[assignment]
    """Who gets 200, who is told why (400: not a permission matter, as in the chat); 403 for
    every other signed caller."""
    return {who: 200 if who in ok else 400 if who in declined else 403 for who in WHO}


# endpoint → what each caller gets (during the meeting, with a collection open)
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/api/me"): row(set(WHO)),
    ("GET", "/api/branch/{code}"): row({"secretary", "admin", "bootstrap"}),
    ("GET", "/api/branch/{code}/ledger.xlsx"): row({"secretary", "admin", "bootstrap"}),
    ("GET", "/api/committee"): row({"admin", "far_admin", "bootstrap"}),
    ("POST", "/api/meetings/{meeting_id:int}/checkin"): row({"secretary", "member"}),
    # the meeting has begun: those expected are told leave is too late; the others refused
    ("POST", "/api/meetings/{meeting_id:int}/leave"): row(set(), {"secretary", "member"}),
    ("POST", "/api/collections/{collection_id:int}/remind"): row(
        {"secretary", "admin", "bootstrap"}
    ),
    # not linked to a member is said as in the chat, not refused
    ("POST", "/api/link"): row(set(WHO)),  # a link only; the file's right is checked on use
    ("GET", "/api/ics"): row(
        {"secretary", "member", "other_secretary"}, {"admin", "far_admin", "bootstrap", "stranger"}
    ),
}


def test_every_endpoint_has_a_row_in_the_matrix() -> None:
    routes = {
        (method, r.path)
        for r in api.ROUTES
        if isinstance(r, Route)
        for method in (r.methods or set()) - {"HEAD"}
    }
    assert routes == set(MATRIX), "give each endpoint its row: who may call it"


def telegram_id(board: Board, who: str) -> int:
    return {
        "secretary": board.users[0].id,
        "member": board.users[5].id,
        "other_secretary": board.other_secretary.id,
        "admin": board.admin.id,
        "far_admin": board.far_admin.id,
        "bootstrap": ADMIN_ID,
        "stranger": board.stranger.id,
    }[who]


async def written(board: Board) -> tuple[int, int, int]:
    async with board.running.db.read() as session:
        return (
            await session.scalar(select(func.count()).select_from(Attendance)) or 0,
            await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
            await session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.outcome == "denied")
            )
            or 0,
        )


async def test_every_endpoint_by_every_role_and_scope(board: Board) -> None:
    meeting = await meet_by_chat(board, "12-1 9:30")
    await ask_by_chat(board, "12-5 18:00")
    collection = 1
    board.clock.set(local("2026-12-01T09:35"))  # the meeting is on: check-in is open
    paths = {
        "/api/branch/{code}": "/api/branch/zb",  # codes in any case, as in the chat
        "/api/branch/{code}/ledger.xlsx": "/api/branch/ZB/ledger.xlsx?year=2026",
        "/api/meetings/{meeting_id:int}/checkin": f"/api/meetings/{meeting}/checkin",
        "/api/meetings/{meeting_id:int}/leave": f"/api/meetings/{meeting}/leave",
        "/api/collections/{collection_id:int}/remind": f"/api/collections/{collection}/remind",
    }
    for (method, route), wanted in MATRIX.items():
        path = paths.get(route, route)
        unsigned = await board.call(method, path, None)
        assert unsigned.status_code == 401, (route, "unsigned")
        for who in WHO:
            before = await written(board)
            body = {"reason": "出差在外地"} if route.endswith("/leave") else None
            body = {"path": "/api/ics"} if route == "/api/link" else body
            answer = await board.call(method, path, telegram_id(board, who), json=body)
            want = wanted[who]
            assert answer.status_code == want, (route, who, answer.status_code, answer.text)
            after = await written(board)
            if want != 200:  # refused: nothing written but the audit of a refusal
                audited = 1 if want == 403 else 0
                assert after[:2] == before[:2] and after[2] == before[2] + audited, (route, who)
    # a refused call says why, in the caller's language
    refused = await board.call("GET", "/api/committee", board.users[5].id)
    assert "管理员" in refused.json()["error"]


async def test_forged_expired_and_another_bots_launch_data_see_nothing(board: Board) -> None:
    sec = board.users[0].id
    now = board.clock.now()
    cases = {
        "another bot": "tma " + board.launch(sec, token=OTHER_TOKEN),
        "expired": "tma " + board.launch(sec, at=now - timedelta(hours=25)),
        "forged": "tma " + board.launch(sec).replace("hash=", "hash=0"),
        "no scheme": board.launch(sec),
    }
    before = await written(board)
    for name, header in cases.items():
        for method, path in (
            ("GET", "/api/me"),
            ("GET", "/api/branch/ZB"),
            ("GET", "/api/committee"),
            ("POST", "/api/meetings/1/checkin"),
        ):
            async with board.client() as http:
                answer = await http.request(method, path, headers={"Authorization": header})
            assert answer.status_code == 401, (name, path)
            assert answer.json() == {"error": "unauthorized"}
    assert await written(board) == before


async def test_the_views_say_what_the_chat_says(board: Board) -> None:
    meeting = await meet_by_chat(board, "12-1 9:30")
    await ask_by_chat(board, "12-5 18:00")
    board.clock.set(local("2026-12-01T09:35"))
    for u in board.users[:3]:  # three check in through the chat's cards
        card = next(m for m in u.bot_messages() if "签到" in " ".join(m.button_labels))
        assert (await u.click(card, "签到")).text == "签到成功"
    sec_user = board.users[0]  # and the secretary signs one in (代签)
    managing = next(m for m in sec_user.bot_messages() if "代签" in " ".join(m.button_labels))
    await sec_user.click(managing, "代签")
    await board.fake.wait_for(lambda: "点姓名为其代签" in managing.content)
    assert (await sec_user.click(managing, "党员09")).text == "已为 党员09 代签"
    member = board.users[5].id
    me = (await board.call("GET", "/api/me", member)).json()
    assert me["member"]["name"] == "党员05" and me["member"]["branch"]["code"] == "ZB"
    assert [m["id"] for m in me["meetings"]] == [meeting] and not me["meetings"][0]["answered"]
    assert [a["kind"] for a in me["asked"]] == ["学习心得"]
    assert me["t"]["web.tab_me"] == "我的" and not me["admin"] and not me["manager"]
    # what they owe is what /due lists them, in its order
    due = await board.users[5].ask("/due")
    assert me["owe"] and all(o["title"].split(" · ")[0] in due.content for o in me["owe"])
    assert me["owe"][0]["state"] == "overdue" and "支部委员会会议" in [
        o["title"] for o in me["owe"]
    ]
    # checking in from the app: the chat's own check-in, and the group card counts it
    answer = await board.call("POST", f"/api/meetings/{meeting}/checkin", member)
    assert answer.json()["text"] == "签到成功"
    again = await board.call("POST", f"/api/meetings/{meeting}/checkin", member)
    assert again.json()["text"] == "您已经签到过了"
    group_card = next(
        m for m in board.fake.bot_messages(board.group_id) if "支部党员大会" in m.content
    )
    await board.fake.wait_for(lambda: "已签到 5" in group_card.content, timeout=10)
    me = (await board.call("GET", "/api/me", member)).json()
    assert me["meetings"][0]["answered"]
    # the branch's year, its meetings with who signed, the collection and the assessment
    sec = board.users[0].id
    branch = (await board.call("GET", "/api/branch/ZB?year=2026", sec)).json()
    assert branch["org"] == {"code": "ZB", "name": "第一党支部"}
    titles = [row["title"] for row in branch["grid"]]
    assert "支部党员大会" in titles and "支部委员会会议" in titles
    states = {c["state"] for row in branch["grid"] for c in row["cells"]}
    assert states <= {"done", "open", "overdue", "not_tracked", "na"} and "overdue" in states
    general = next(row for row in branch["grid"] if row["title"] == "支部党员大会")
    q4 = next(c for c in general["cells"] if c["start"] == "2026-10-01")
    assert [(m["present"], m["leave"]) for m in q4["meetings"]] == [(5, 0)]  # opening the cell
    assert all(not c["meetings"] for c in general["cells"] if c is not q4)
    held = branch["meetings"][0]
    assert (
        held["id"] == meeting and len([a for a in held["answers"] if a["status"] == "present"]) == 5
    )
    assert {"name": "党员09", "status": "present", "via": "proxy", "by": "党员00"} in held[
        "answers"
    ]
    asked = branch["collections"][0]
    assert asked["open"] and len(asked["missing"]) == 30 and asked["kind"] == "学习心得"
    assert branch["assessment"]["maximums"]["obligations"] > 0
    # English for those who chose it in the chat
    await board.users[5].ask("/lang en")
    english = (await board.call("GET", "/api/me", member)).json()
    assert english["lang"] == "en" and english["t"]["web.tab_me"] == "Me"


async def test_remind_the_missing_reaches_them_in_the_chat_once_an_hour(board: Board) -> None:
    await ask_by_chat(board, "12-5 18:00")
    sec = board.users[0].id
    before = len(board.users[7].bot_messages())
    answer = await board.call("POST", "/api/collections/1/remind", sec)
    assert answer.status_code == 200 and answer.json()["sent"] == 30
    await board.fake.wait_for(lambda: len(board.users[7].bot_messages()) > before, timeout=10)
    reminder = board.users[7].bot_messages()[-1]
    assert "支部提醒" in reminder.content and "📝 提交" in reminder.button_labels
    again = await board.call("POST", "/api/collections/1/remind", sec)
    assert again.json()["sent"] == 0 and "一小时内已提醒过" in again.json()["text"]  # not twice
    async with board.running.db.read() as session:
        reminders = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.key.like("ask|1|remind|%"))
        )
        audit = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "ask.remind")
        )
    assert reminders == 30 and audit == 2
    # the chat's twin: 🔔 提醒未交 under the collection's progress in /ask
    panel = await board.users[0].ask("/ask")
    await board.users[0].click(panel, "查看")
    await board.fake.wait_for(lambda: any("提醒未交" in b for b in panel.button_labels))
    told = await board.users[0].click(panel, "提醒未交")
    assert "这 30 人一小时内已提醒过" in (told.text or "")  # the same hour: not again
    board.clock.set(board.clock.now() + timedelta(hours=1))
    later = await board.call("POST", "/api/collections/1/remind", sec)
    assert later.json()["sent"] == 30 and "已提醒 30 人" in later.json()["text"]
    # after the deadline there is nobody to remind
    board.clock.set(local("2026-12-06T09:00"))
    late = await board.call("POST", "/api/collections/1/remind", sec)
    assert late.status_code == 400 and "已经截止" in late.json()["error"]


async def test_the_committee_sees_its_branches_only(board: Board) -> None:
    rows = (await board.call("GET", "/api/committee?year=2026", board.admin.id)).json()["rows"]
    assert sorted(r["code"] for r in rows) == ["ZB", "ZB2"]
    assert {r["parent"] for r in rows} == {"机关党委"}
    everything = (await board.call("GET", "/api/committee", ADMIN_ID)).json()["rows"]
    assert sorted(r["code"] for r in everything) == ["ZB", "ZB2", "ZB3"]
    far = await board.call("GET", "/api/branch/ZB", board.far_admin.id)
    assert far.status_code == 403
    bad = await board.call("GET", "/api/committee?year=99", board.admin.id)
    assert bad.status_code == 400 and "2000" in bad.json()["error"]
    missing = await board.call("GET", "/api/branch/NOPE", board.admin.id)
    assert missing.status_code == 400 and "NOPE" in missing.json()["error"]
    ledger = await board.call("GET", "/api/branch/ZB/ledger.xlsx", board.admin.id)
    assert ledger.content[:2] == b"PK" and "ZB-2026.xlsx" in ledger.headers["content-disposition"]
    ics = await board.call("GET", "/api/ics", board.users[5].id)
    assert ics.text.startswith("BEGIN:VCALENDAR")


async def test_the_chat_opens_the_board_where_it_can(board: Board) -> None:
    # the menu button of private chats opens the app
    assert board.fake.menu_buttons[None] == {
        "type": "web_app",
        "text": "看板",
        "web_app": {"url": "https://board.example/app"},
    }
    sec = board.users[0]
    home = await sec.ask("/start")
    assert home.button("打开看板")["web_app"] == {"url": "https://board.example/app?view=me"}
    calendar = await sec.ask("/calendar")
    assert calendar.button("打开看板")["web_app"]["url"].endswith("?view=branch&code=ZB")
    before = len(sec.bot_messages())
    sec.send("/status")
    await board.fake.wait_for(lambda: len(sec.bot_messages()) >= before + 2)  # text, chart
    status = next(m for m in sec.bot_messages()[before:] if m.text)
    assert status.button("打开看板")["web_app"]["url"].endswith("?view=branch&code=ZB")
    overview = await board.admin.ask("/overview")
    assert overview.button("打开看板")["web_app"]["url"].endswith("?view=committee")
    # not in a group: Telegram takes web app buttons in private chats only
    before = len(board.fake.bot_messages(board.group_id))
    sec.send("/calendar", chat_id=board.group_id)
    await board.fake.wait_for(lambda: len(board.fake.bot_messages(board.group_id)) > before)
    assert "打开看板" not in " ".join(board.fake.bot_messages(board.group_id)[-1].button_labels)


async def test_without_a_web_url_the_chat_offers_no_board(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock
) -> None:
    users, _, _ = await seed(fake, db, clock)
    home = await users[0].ask("/start")
    assert "打开看板" not in " ".join(home.button_labels)
    assert fake.menu_buttons == {}


async def test_doctor_says_whether_the_board_can_be_opened(
    board: Board, settings: Settings
) -> None:
    off = await _check_web(settings)
    assert off.ok and off.detail == "doctor.web_off"
    here = settings.model_copy(
        update={"web_url": "https://board.invalid", "web_listen": f"127.0.0.1:{board.server.port}"}
    )
    proxy = await _check_web(here)
    assert not proxy.ok and proxy.detail == "doctor.web_proxy"  # the bot answers, the proxy not
    assert "127.0.0.1" in proxy.said("zh")[1]
    await board.server.stop()
    down = await _check_web(here)
    assert not down.ok and down.detail == "doctor.web_down"


async def test_a_code_meeting_is_checked_into_with_the_code_from_the_room(board: Board) -> None:
    meeting, code = await code_meeting(board)
    member = board.users[5].id
    path = f"/api/meetings/{meeting}/checkin"
    asked = await board.call("POST", path, member)
    assert asked.status_code == 409 and asked.json()["answer"] == "need_code"
    wrong = await board.call(
        "POST", path, member, json={"code": "000000" if code != "000000" else "111111"}
    )
    assert wrong.json()["answer"] == "wrong_code"
    right = await board.call("POST", path, member, json={"code": code})
    assert right.status_code == 200 and right.json()["text"] == "签到成功"
    async with board.running.db.read() as session:
        via = await session.scalar(select(Attendance.via).where(Attendance.meeting_id == meeting))
    assert via == "code"


async def test_the_page_runs_only_its_own_script(board: Board) -> None:
    page = await board.call("GET", "/app", None)
    assert page.status_code == 200 and '<script src="app/static/app.js">' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    script = await board.call("GET", "/app/static/app.js", None)
    assert "Authorization" in script.text and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert (await board.call("GET", "/app/static/../../settings.py", None)).status_code == 404


async def test_leave_from_the_board_tells_the_managers(board: Board) -> None:
    meeting = await meet_by_chat(board, "12-2 9:30")
    member = board.users[8].id
    path = f"/api/meetings/{meeting}/leave"
    short = await board.call("POST", path, member, json={"reason": "忙"})
    assert short.status_code == 400 and "您发送了 1 字" in short.json()["error"]
    before = len(board.users[0].bot_messages())
    taken = await board.call("POST", path, member, json={"reason": "出差在外地"})
    assert taken.status_code == 200 and taken.json()["text"].startswith("已请假")
    await board.fake.wait_for(
        lambda: any("出差在外地" in m.content for m in board.users[0].bot_messages()[before:]),
        timeout=10,
    )
    group_card = next(
        m for m in board.fake.bot_messages(board.group_id) if "支部党员大会" in m.content
    )
    await board.fake.wait_for(lambda: "请假 1" in group_card.content, timeout=10)
    again = await board.call("POST", path, member, json={"reason": "出差在外地"})
    assert again.status_code == 200 and again.json()["text"] == "已更新请假原因。"
    missing = await board.call(
        "POST", "/api/meetings/999/leave", member, json={"reason": "出差在外地"}
    )
    assert missing.status_code == 404


async def test_the_web_server_survives_its_own_failure(
    board: Board, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure inside the server is logged and the server starts again (no silent end)."""
    broke = asyncio.Event()
    original = uvicorn.Server.main_loop

    async def once_broken(self: uvicorn.Server) -> None:
        if not broke.is_set():
            broke.set()
            raise RuntimeError("boom")
        await original(self)

    monkeypatch.setattr(uvicorn.Server, "main_loop", once_broken)
    board.server.server.should_exit = True  # the running one ends; the next one breaks once
    await asyncio.wait_for(broke.wait(), 10)
    for _ in range(100):
        try:
            answer = await board.call("GET", "/api/me", board.users[5].id)
            if answer.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)
    assert answer.status_code == 200
    assert "boom" in (board.server.liveness.tasks["web"].last_error or "")


async def test_a_download_link_is_for_one_person_one_file_and_five_minutes(board: Board) -> None:
    member = board.users[5].id
    made = await board.call("POST", "/api/link", member, json={"path": "/api/ics"})
    url = "/" + made.json()["url"]
    assert url.startswith("/api/ics?uid=")
    async with board.client() as http:  # fetched as Telegram does: no launch data
        assert (await http.get(url)).text.startswith("BEGIN:VCALENDAR")
        assert (await http.get(url.replace("sig=", "sig=0"))).status_code == 401
        assert (
            await http.get(url.replace(f"uid={member}", f"uid={board.users[0].id}"))
        ).status_code == 401
        assert (await http.get("/api/me?" + url.split("?")[1])).status_code == 401  # files only
    # the right to the file is checked when it is fetched, as for any download
    ledger = await board.call(
        "POST", "/api/link", member, json={"path": "/api/branch/ZB/ledger.xlsx?year=2026"}
    )
    async with board.client() as http:
        refused = await http.get("/" + ledger.json()["url"])
    assert refused.status_code == 403
    sec = await board.call(
        "POST",
        "/api/link",
        board.users[0].id,
        json={"path": "/api/branch/ZB/ledger.xlsx?year=2026"},
    )
    async with board.client() as http:
        assert (await http.get("/" + sec.json()["url"])).content[:2] == b"PK"
        board.clock.set(board.clock.now() + timedelta(minutes=6))
        assert (await http.get("/" + sec.json()["url"])).status_code == 401  # expired
    bad = await board.call("POST", "/api/link", member, json={"path": "/api/me"})
    assert bad.status_code == 400


async def test_an_oversized_body_is_refused_before_it_is_read_whole(board: Board) -> None:
    meeting = await meet_by_chat(board, "12-2 9:30")
    long = await board.call(
        "POST", f"/api/meetings/{meeting}/leave", board.users[8].id, json={"reason": "出" * 5000}
    )
    assert long.status_code == 400 and "太长" in long.json()["error"]
    async with board.running.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Attendance)) == 0
