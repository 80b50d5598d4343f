"""Telegram's own checks on outgoing text: HTML parsing, lengths, keyboards."""

from __future__ import annotations

import html
import re
from typing import Any

ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "span",
    "blockquote",
    "tg-emoji",
}
TAG_RE = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*>"
)
ENTITY_RE = re.compile(r"&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});")
CALLBACK_DATA_MAX = 64
TEXT_MAX = 4096
CAPTION_MAX = 1024


class ApiError(Exception):
    """A Bot API error answer: HTTP status, description and optional parameters."""

    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """The plain text a user sees, or ApiError as Telegram answers for bad markup."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            match = TAG_RE.match(text, i)
            offset = len(text[:i].encode())
            if not match:
                raise ApiError(
                    400,
                    f"Bad Request: can't parse entities: Unexpected character at byte offset {offset}",
                )
            closing, name = match[1], match[2].lower()
            if closing:
                if not stack or stack[-1] != name:
                    raise ApiError(
                        400,
                        "Bad Request: can't parse entities: Unmatched end tag at byte offset "
                        f'{offset}, expected "</{stack[-1] if stack else ""}>", found "</{name}>"',
                    )
                stack.pop()
            else:
                if name not in ALLOWED_TAGS:
                    raise ApiError(
                        400,
                        f'Bad Request: can\'t parse entities: Unsupported start tag "{name}" '
                        f"at byte offset {offset}",
                    )
                stack.append(name)
            i = match.end()
        elif ch == "&":
            match = ENTITY_RE.match(text, i)
            if not match:
                raise ApiError(
                    400,
                    "Bad Request: can't parse entities: Character entity expected at byte offset "
                    f"{len(text[:i].encode())}",
                )
            out.append(html.unescape(match[0]))
            i = match.end()
        else:
            out.append(ch)
            i += 1
    if stack:
        raise ApiError(
            400,
            f"Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\"",
        )
    return "".join(out)


def visible_text(text: str, parse_mode: str | None) -> str:
    if parse_mode is None or parse_mode == "":
        return text
    if parse_mode.upper() == "HTML":
        return parse_html(text)
    raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode}")


def check_text(text: str | None, *, limit: int = TEXT_MAX, allow_empty: bool = False) -> None:
    if not text or not text.strip():
        if allow_empty:
            return
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_len(text) > limit:
        raise ApiError(400, "Bad Request: message is too long")


def check_keyboard(markup: Any) -> None:
    """Inline keyboards as Telegram checks them."""
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list):
        raise ApiError(400, 'Bad Request: field "inline_keyboard" must be an Array')
    for row in rows:
        for button in row:
            if not button.get("text"):
                raise ApiError(400, "Bad Request: BUTTON_TEXT_EMPTY")
            data = button.get("callback_data")
            url = button.get("url")
            if data is not None:
                if not 1 <= len(data.encode()) <= CALLBACK_DATA_MAX:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            elif url is not None:
                if not re.match(r"^(https?|tg)://", url):
                    raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
            elif "web_app" in button:  # a Mini App opens over HTTPS only
                if not str((button["web_app"] or {}).get("url", "")).startswith("https://"):
                    raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
            elif not any(k in button for k in ("switch_inline_query", "login_url", "copy_text")):
                raise ApiError(400, 'Bad Request: can\'t find field "callback_data"')
