"""Telegram Mini App launch data (``initData``), checked as Telegram defines it.

The page sends the launch data it was opened with as ``Authorization: tma <initData>``. It is
a query string signed by Telegram: ``hash`` is HMAC-SHA256 of the other fields (sorted,
``key=value`` lines) under the key HMAC-SHA256("WebAppData", bot token). A signature made
with another bot's token, an altered field, launch data older than 24 hours (or from the
future) and anything unsigned are refused: the caller answers 401 and does nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode

MAX_AGE = timedelta(hours=24)
CLOCK_SKEW = timedelta(minutes=5)  # a device clock a little ahead is not a forgery
SCHEME = "tma "


@dataclass(frozen=True)
class WebUser:
    """Who opened the app, as Telegram signed it."""

    telegram_id: int
    first_name: str
    language: str | None
    signed_at: datetime


def _secret(token: str) -> bytes:
    return hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()


def _check_string(fields: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "hash")


def sign(fields: dict[str, str], token: str) -> str:
    """Launch data as Telegram makes it (for tests, benchmarks and local trials)."""
    digest = hmac.new(_secret(token), _check_string(fields).encode(), hashlib.sha256)
    return urlencode({**fields, "hash": digest.hexdigest()})


def launch_data(telegram_id: int, token: str, *, at: datetime, language: str = "zh") -> str:
    """Signed launch data for one user at ``at``."""
    user = {"id": telegram_id, "first_name": f"user{telegram_id}", "language_code": language}
    fields = {
        "user": json.dumps(user, separators=(",", ":")),
        "auth_date": str(int(at.timestamp())),
        "query_id": f"AA{telegram_id}",
    }
    return sign(fields, token)


def verify(header: str | None, token: str, *, now: datetime) -> WebUser | None:
    """The user the ``Authorization`` header proves, or None (unsigned, forged, for another
    bot, expired, or not about a user)."""
    if not header or not header.startswith(SCHEME) or len(header) > 8192:
        return None
    pairs = parse_qsl(header[len(SCHEME) :], keep_blank_values=True, strict_parsing=False)
    fields = dict(pairs)
    if len(fields) != len(pairs) or "hash" not in fields:
        return None  # a repeated field: which one was signed?
    expected = hmac.new(_secret(token), _check_string(fields).encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest().encode(), fields["hash"].encode()):
        return None
    try:
        signed_at = datetime.fromtimestamp(int(fields["auth_date"]), tz=now.tzinfo)
        user = json.loads(fields["user"])
        telegram_id = int(user["id"])
    except (KeyError, ValueError, TypeError, OverflowError, OSError):
        return None
    if not now - MAX_AGE <= signed_at <= now + CLOCK_SKEW or telegram_id <= 0:
        return None
    language = user.get("language_code")
    name = str(user.get("first_name") or "")
    return WebUser(telegram_id, name, language if isinstance(language, str) else None, signed_at)


# ---------------------------------------------------------------- download links
# Telegram's WebApp.downloadFile fetches a file by its address, without the page's headers: a
# download gets a short-lived link signed for one person and one path instead.

LINK_TTL = timedelta(minutes=5)


def _link_digest(token: str, telegram_id: int, expires: int, path: str) -> str:
    key = hmac.new(b"zhibu-download", token.encode(), hashlib.sha256).digest()
    message = f"{telegram_id}|{expires}|{path}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_link(path: str, telegram_id: int, token: str, *, now: datetime) -> str:
    """``path`` (with its own query) for ``telegram_id``, good for five minutes."""
    expires = int((now + LINK_TTL).timestamp())
    sig = _link_digest(token, telegram_id, expires, path)
    joiner = "&" if "?" in path else "?"
    return f"{path}{joiner}{urlencode({'uid': telegram_id, 'exp': expires, 'sig': sig})}"


def verify_link(
    path: str, query: list[tuple[str, str]], token: str, *, now: datetime
) -> int | None:
    """The person a signed link was made for, or None (unsigned, altered, expired)."""
    fields = dict(query)
    rest = [(k, v) for k, v in query if k not in ("uid", "exp", "sig")]
    try:
        telegram_id, expires = int(fields["uid"]), int(fields["exp"])
    except (KeyError, ValueError):
        return None
    signed = path + ("?" + urlencode(rest) if rest else "")
    digest = _link_digest(token, telegram_id, expires, signed)
    if not hmac.compare_digest(digest.encode(), fields.get("sig", "").encode()):
        return None
    if not now.timestamp() <= expires <= (now + LINK_TTL).timestamp() + 1:
        return None
    return telegram_id
