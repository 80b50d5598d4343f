"""A fake Telegram Bot API server for tests and benchmarks."""

from tests.fakegram.server import CallbackAnswer, FakeTelegram, Faults, Limits, Msg, UserHandle

__all__ = ["CallbackAnswer", "FakeTelegram", "Faults", "Limits", "Msg", "UserHandle"]
