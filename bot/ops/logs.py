"""One line per event, and never a secret in any of them."""

from __future__ import annotations

import logging
import re
import sys

_TOKEN_RE = re.compile(r"\d{3,}:[A-Za-z0-9_-]{20,}")
# invite tokens travel as deep links: t.me/<bot>?start=<kind>_<token> (and startgroup=)
_INVITE_RE = re.compile(r"(start(?:group)?=)[A-Za-z0-9_-]+")
# a password in a database URL: scheme://user:password@host
_URL_PASSWORD_RE = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


class RedactingFilter(logging.Filter):
    """Replace known secrets and anything shaped like a bot token with ***."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = _INVITE_RE.sub(r"\1***", text)
        text = _URL_PASSWORD_RE.sub(r"\1***@", text)
        return _TOKEN_RE.sub("***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


class OneLineFormatter(logging.Formatter):
    """One event, one line: tracebacks and multi-line messages are folded with ⏎."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r", "").replace("\n", " ⏎ ")


def setup_logging(level: str, secrets: list[str]) -> RedactingFilter:
    """One line per event on stderr, every secret redacted; returns the redactor for text
    printed outside the log (start-up failures)."""
    redactor = RedactingFilter(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        OneLineFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL, and the Bot API URL holds the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    for noisy in ("apscheduler", "aiosqlite", "alembic.runtime.plugins", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # At DEBUG, python-telegram-bot logs every request's parameters and every update: whole
    # message texts with invite links and phone numbers. Never below INFO for them.
    for chatty in ("telegram", "telegram.ext", "tornado.access"):
        logging.getLogger(chatty).setLevel(max(logging.INFO, root.level))
    return redactor
