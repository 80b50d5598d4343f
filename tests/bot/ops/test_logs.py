"""Logs: one line per event, and no secret in any of them."""

from __future__ import annotations

import io
import logging

from bot.ops.logs import OneLineFormatter, RedactingFilter

TOKEN = "123456789:AAE-secret-token-value-0123456789abc"


def make_logger() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter([TOKEN]))
    logger = logging.getLogger("zhibu.test.logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_token_is_redacted_from_messages_arguments_and_tracebacks() -> None:
    logger, stream = make_logger()
    logger.warning("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    logger.warning("other token-shaped text 987654321:ZZZ-abcdefghijklmnopqrstuvw")
    try:
        raise RuntimeError(f"failed at /bot{TOKEN}/sendMessage")
    except RuntimeError:
        logger.exception("boom")
    out = stream.getvalue()
    assert TOKEN not in out and "ZZZ-abcdefghijklmnopqrstuvw" not in out
    assert out.count("***") == 3


def test_one_line_per_event() -> None:
    logger, stream = make_logger()
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        logger.exception("first")
    logger.info("second")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "Traceback" in lines[0] and "ValueError: bad ⏎ value" in lines[0]
    assert lines[1] == "INFO second"
