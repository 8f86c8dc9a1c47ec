"""Read Telegram webhook requests: who sent them and what they say.

Updates are read as plain JSON (shaped as in the Bot API's ``Update``
object), so update types this code has never heard of are simply ignored.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "callback_query")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND = re.compile(r"^(/[A-Za-z0-9_]+)@[A-Za-z0-9_]+")


@dataclass(frozen=True)
class Incoming:
    """One update the bot should act on.

    Attributes:
        update_id: Telegram's id of the update, used to drop redeliveries.
        chat_id: The chat to answer in; None when there is nowhere to answer.
        text: What the patient typed, or the pressed button's ``callback_data``.
        callback_query_id: Set for a button press, which must be answered.
        button_title: The pressed button's title, when the message still shows it.
    """

    update_id: Optional[int]
    chat_id: Optional[int]
    text: Optional[str]
    callback_query_id: Optional[str] = None
    button_title: Optional[str] = None


def valid_secret(secret: object) -> bool:
    """Whether a webhook secret is one Telegram accepts: 1-256 of ``A-Z a-z 0-9 _ -``."""
    return isinstance(secret, str) and bool(_SECRET.match(secret))


def secret_matches(expected: str, received: Optional[str]) -> bool:
    """Compare the webhook request's secret header with ours, in constant time.

    Args:
        expected: The secret registered with ``setWebhook``.
        received: The ``X-Telegram-Bot-Api-Secret-Token`` header, if any.

    Returns:
        Whether the request comes from Telegram.
    """
    if not expected or received is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), received.encode("utf-8"))


def normalise_command(text: str) -> str:
    """Drop the bot's name from a command (``/start@SomeBot`` -> ``/start``) and ``/start``'s deep-link parameter."""
    text = _COMMAND.sub(r"\1", text)
    if text == "/start" or text.startswith("/start "):
        return "/start"
    return text


def _int(value: object) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _chat_id(message: object) -> Optional[int]:
    if not isinstance(message, Mapping) or not isinstance(message.get("chat"), Mapping):
        return None
    return _int(message["chat"].get("id"))


def _button_title(message: object, data: str) -> Optional[str]:
    """The title of the button with this ``callback_data`` on the message, if it is there."""
    markup = message.get("reply_markup") if isinstance(message, Mapping) else None
    rows = markup.get("inline_keyboard") if isinstance(markup, Mapping) else None
    for row in rows if isinstance(rows, list) else []:
        for button in row if isinstance(row, list) else []:
            if isinstance(button, Mapping) and button.get("callback_data") == data:
                title = button.get("text")
                return title if isinstance(title, str) else None
    return None


def parse_update(update: Mapping[str, Any]) -> Optional[Incoming]:
    """Read an update the bot acts on: a text message or a button press.

    Everything else (edited messages, stickers, photos, member changes,
    channel posts and any other type) is None and gets ignored.

    Args:
        update: The webhook request's JSON body.

    Returns:
        The incoming message, or None.
    """
    update_id = _int(update.get("update_id"))
    message = update.get("message")
    if isinstance(message, Mapping):
        text = message.get("text")
        chat_id = _chat_id(message)
        if not isinstance(text, str) or chat_id is None:
            return None
        return Incoming(update_id, chat_id, normalise_command(text))
    query = update.get("callback_query")
    if isinstance(query, Mapping) and isinstance(query.get("id"), str):
        data = query.get("data")
        data = data if isinstance(data, str) else None
        return Incoming(
            update_id,
            _chat_id(query.get("message")),
            data,
            callback_query_id=query["id"],
            button_title=_button_title(query.get("message"), data) if data else None,
        )
    return None


__all__ = [
    "ALLOWED_UPDATES",
    "Incoming",
    "SECRET_HEADER",
    "normalise_command",
    "parse_update",
    "secret_matches",
    "valid_secret",
]
