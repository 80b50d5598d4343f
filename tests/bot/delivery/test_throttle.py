"""The throttle never lets more through than the limits, in any window."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.delivery.throttle import Limits, Throttle


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=-3, max_value=5), min_size=1, max_size=300))
def test_windows_are_never_exceeded(chats: list[int]) -> None:
    clock = FakeTime()
    throttle = Throttle(
        Limits(overall_per_second=7, private_interval=1.0, group_per_minute=4, margin=0.0), clock
    )
    sent: list[tuple[float, int]] = []
    for chat in chats:
        wait = throttle.wait_time(chat)
        while wait > 0:
            clock.now += wait
            wait = throttle.wait_time(chat)
        throttle.record(chat)
        sent.append((clock.now, chat))
    for t, chat in sent:
        in_second = [s for s in sent if t - 1.0 < s[0] <= t]
        assert len(in_second) <= 7
        if chat < 0:
            assert len([s for s in sent if s[1] == chat and t - 60 < s[0] <= t]) <= 4
        else:
            assert len([s for s in sent if s[1] == chat and t - 3.0 < s[0] <= t]) <= 3


def test_pause_holds_everything() -> None:
    clock = FakeTime()
    throttle = Throttle(Limits(), clock)
    throttle.pause(3)
    assert throttle.wait_time(5) == 3
    clock.now = 3
    assert throttle.wait_time(5) == 0


def test_full_rate_is_reached() -> None:
    clock = FakeTime()
    throttle = Throttle(Limits(overall_per_second=30, margin=0.02), clock)
    count = 0
    while clock.now < 10:
        wait = throttle.wait_time(1000 + count)
        if wait > 0:
            clock.now += wait
            continue
        throttle.record(1000 + count)
        count += 1
    assert count / 10 >= 0.95 * 30
