"""The button codec: every declared kind survives a round trip, anything else decodes to
None, and nothing over Telegram's 64 bytes is ever written."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.rules import buttons
from bot.rules.buttons import (
    KINDS,
    Button,
    CheckIn,
    ProxySignIn,
    RecordByHand,
    RecordMeeting,
    button,
    decode,
    encode,
    pager,
    stored,
)

TOKENS = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=12
)
VALUES = {
    int: st.integers(min_value=0, max_value=10**12),
    str: TOKENS,
    date: st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
}


def instances() -> st.SearchStrategy[Button]:
    def build(cls: type[Button]) -> st.SearchStrategy[Button]:
        kinds = [kind for _, kind in buttons._FIELD_TYPES[cls]]
        return st.tuples(*(VALUES[k] for k in kinds)).map(lambda values: cls(*values))

    return st.sampled_from(sorted(KINDS.values(), key=lambda c: c.__name__)).flatmap(build)


@settings(max_examples=300, deadline=None)
@given(instances())
def test_every_kind_round_trips(b: Button) -> None:
    data = encode(b)
    assert len(data.encode()) <= 64
    assert decode(data) == b


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_any_text_decodes_to_a_declared_button_or_none(data: str) -> None:
    found = decode(data)
    assert found is None or encode(found) == data


@pytest.mark.parametrize(
    "data",
    [
        "",
        "mt",
        "mt:c",
        "mt:c:",
        "mt:c:x",
        "mt:c:1:2",
        "mt:c:-1",
        "mt:c:１２",  # full-width digits are not digits here
        "mt:zz:1",
        "zz:c:1",
        "mt:q:1",
        "mk:d:20261301",
        "rp:m:hand:1",
        "lang:fr",
        "mt:c:" + "9" * 19,
        "lk:y:" + "a" * 41,
        "set:o:1:a b",
    ],
)
def test_malformed_data_is_refused(data: str) -> None:
    assert decode(data) is None


def test_two_word_actions_beside_one_word_ones() -> None:
    assert decode("rp:m:hand") == RecordByHand()
    assert decode("rp:m:12") == RecordMeeting(12)


def test_nothing_over_64_bytes_is_written() -> None:
    with pytest.raises(ValueError):
        encode(buttons.SettingsObligation(10**17, "x" * 40 + "y"))  # token too long
    with pytest.raises(ValueError):
        encode(buttons.LinkYes("a" * 40 + ":"))


def test_a_kind_is_declared_once() -> None:
    with pytest.raises(ValueError):

        @button("mt", "c")
        class Again(Button):
            meeting_id: int


def test_pager_and_stored_rows() -> None:
    row = pager(1, 3, lambda p: ProxySignIn(5, p), label="2/3")
    assert [(label, encode(b)) for label, b in row] == [
        ("‹", "mt:q:5:0"),
        ("2/3", "mt:q:5:1"),
        ("›", "mt:q:5:2"),
    ]
    assert pager(0, 1, lambda p: ProxySignIn(5, p), label="1/1") == []
    assert stored([[("签到", CheckIn(3))]]) == {"buttons": [[["签到", "mt:c:3"]]]}
