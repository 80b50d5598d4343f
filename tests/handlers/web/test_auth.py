"""Telegram's launch data: what is signed with this bot's token, in the last 24 hours, about a
user, is taken; anything else is not."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

from hypothesis import given
from hypothesis import strategies as st

from handlers.web.auth import launch_data, sign, verify
from tests.helpers import TOKEN

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
OTHER_TOKEN = "987654321:AAF-another-bot-token-0123456789abcd"


def header(data: str) -> str:
    return "tma " + data


def test_launch_data_signed_as_telegram_describes_is_taken() -> None:
    # Telegram's recipe written out by hand: the key is HMAC("WebAppData", token)
    fields = {
        "auth_date": str(int(NOW.timestamp())),
        "user": json.dumps({"id": 42, "first_name": "甲", "language_code": "en"}),
    }
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    key = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    digest = hmac.new(key, check.encode(), hashlib.sha256).hexdigest()
    user = verify(header(urlencode({**fields, "hash": digest})), TOKEN, now=NOW)
    assert user is not None
    assert (user.telegram_id, user.first_name, user.language) == (42, "甲", "en")


def test_another_bots_an_altered_an_expired_and_an_unsigned_are_refused() -> None:
    good = launch_data(42, TOKEN, at=NOW - timedelta(hours=23))
    assert verify(header(good), TOKEN, now=NOW) is not None
    assert verify(header(launch_data(42, OTHER_TOKEN, at=NOW)), TOKEN, now=NOW) is None
    assert (
        verify(
            header(launch_data(42, TOKEN, at=NOW - timedelta(hours=24, seconds=1))), TOKEN, now=NOW
        )
        is None
    )
    assert (
        verify(header(launch_data(42, TOKEN, at=NOW + timedelta(hours=1))), TOKEN, now=NOW) is None
    )
    fields = dict(parse_qsl(good))
    fields["user"] = fields["user"].replace("42", "43")  # someone else's id, same hash
    assert verify(header(urlencode(fields)), TOKEN, now=NOW) is None
    unsigned = {k: v for k, v in dict(parse_qsl(good)).items() if k != "hash"}
    for bad in (
        None,
        "",
        good,
        "Bearer " + good,
        header(urlencode(unsigned)),
        header(good + "&auth_date=1"),
    ):
        assert verify(bad, TOKEN, now=NOW) is None, bad


def test_signed_but_about_no_user_is_refused() -> None:
    at = str(int(NOW.timestamp()))
    for user in ("", "[]", '{"id": "x"}', '{"id": -5}', "null"):
        assert verify(header(sign({"auth_date": at, "user": user}, TOKEN)), TOKEN, now=NOW) is None
    assert (
        verify(header(sign({"auth_date": "soon", "user": '{"id": 1}'}, TOKEN)), TOKEN, now=NOW)
        is None
    )


@given(
    st.dictionaries(
        st.sampled_from(["user", "auth_date", "query_id", "hash", "x"]), st.text(max_size=40)
    )
)
def test_no_made_up_launch_data_is_taken(fields: dict[str, str]) -> None:
    assert verify(header(urlencode(fields)), TOKEN, now=NOW) is None
