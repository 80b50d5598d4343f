"""Every text the bot shows is recorded, and the suites fail on a code shown as a word."""

from __future__ import annotations

from tests.conftest import codes_in
from tests.fakegram import FakeTelegram
from tests.fakegram.test_fakegram import call


async def test_every_text_shown_is_recorded() -> None:
    fake = FakeTelegram()  # not the fixture: this one is meant to show codes
    await fake.start()
    try:
        user = fake.add_user("U")
        user.send("/start")
        markup = {"inline_keyboard": [[{"text": "按 study_note", "callback_data": "p:1"}]]}
        sent = (
            await call(
                fake, "sendMessage", chat_id=user.id, text="已计入：study_note", reply_markup=markup
            )
        ).json()["result"]
        query = user.press(fake.bot_messages(user.id)[-1], "按")
        await call(
            fake, "editMessageText", chat_id=user.id, message_id=sent["message_id"], text="改"
        )
        await call(
            fake, "answerCallbackQuery", callback_query_id=query, text="toast general_meeting"
        )
        assert fake.said == ["已计入：study_note", "按 study_note", "改", "toast general_meeting"]
        assert codes_in(fake.said) == {"study_note", "general_meeting"}
    finally:
        await fake.stop()


def test_what_is_not_read_as_words_is_left_out() -> None:
    texts = [
        "https://t.me/zhibu_test_bot?start=m_abc_def",
        "示例：<code>zhibu import --org_code X</code>",
        "已计入：学习心得",
        "ZHIBU_BOT_TOKEN",
    ]
    assert codes_in(texts) == set()
    assert codes_in(["未计入 thought_report。"]) == {"thought_report"}
