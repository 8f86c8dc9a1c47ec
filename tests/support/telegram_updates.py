"""Real-shaped Telegram ``Update`` objects, and a client that posts them to the bot's webhook.

The shapes follow the Bot API's ``Update``, ``Message``, ``CallbackQuery``
and ``ChatMemberUpdated`` objects, as Telegram sends them to a webhook.
"""

from __future__ import annotations

import itertools
import json
import random
import time
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

WEBHOOK_PATH = "/webhooks/telegram/webhook"
_update_ids = itertools.count(random.randint(100_000_000, 800_000_000))
_message_ids = itertools.count(1)
_NO_SECRET = object()


def next_update_id() -> int:
    """A fresh update id."""
    return next(_update_ids)


def new_chat_id() -> int:
    """A fresh private chat id (a user id)."""
    return random.randint(10_000_000, 2_000_000_000)


def _user(chat_id: int) -> Dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "Pat", "language_code": "en"}


def _chat(chat_id: int) -> Dict[str, Any]:
    return {"id": chat_id, "first_name": "Pat", "type": "private"}


def message(chat_id: int, text: Optional[str] = None, **extra: Any) -> Dict[str, Any]:
    """A ``Message`` from a patient in a private chat."""
    body: Dict[str, Any] = {
        "message_id": next(_message_ids),
        "from": _user(chat_id),
        "chat": _chat(chat_id),
        "date": int(time.time()),
    }
    if text is not None:
        body["text"] = text
        if text.startswith("/"):
            body["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    body.update(extra)
    return body


def text_update(chat_id: int, text: str, update_id: Optional[int] = None) -> Dict[str, Any]:
    """An update with a text message."""
    return {"update_id": update_id or next_update_id(), "message": message(chat_id, text)}


def edited_update(chat_id: int, text: str) -> Dict[str, Any]:
    """An update with an edited text message."""
    return {"update_id": next_update_id(), "edited_message": dict(message(chat_id, text), edit_date=int(time.time()))}


def sticker_update(chat_id: int) -> Dict[str, Any]:
    """An update with a sticker and no text."""
    sticker = {
        "file_id": "CAACAgIAAxkBAAEB",
        "file_unique_id": "AgADBAADf7oHAAE",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": "👍",
    }
    return {"update_id": next_update_id(), "message": message(chat_id, sticker=sticker)}


def photo_update(chat_id: int, caption: str) -> Dict[str, Any]:
    """An update with a photo and a caption (no text)."""
    photo = [{"file_id": "AgACAgQAAxkBAAIB", "file_unique_id": "AQADq7", "width": 90, "height": 90, "file_size": 1200}]
    return {"update_id": next_update_id(), "message": message(chat_id, photo=photo, caption=caption)}


def my_chat_member_update(chat_id: int) -> Dict[str, Any]:
    """An update saying the patient blocked the bot."""
    return {
        "update_id": next_update_id(),
        "my_chat_member": {
            "chat": _chat(chat_id),
            "from": _user(chat_id),
            "date": int(time.time()),
            "old_chat_member": {"user": {"id": 1, "is_bot": True, "first_name": "Bot"}, "status": "member"},
            "new_chat_member": {
                "user": {"id": 1, "is_bot": True, "first_name": "Bot"},
                "status": "kicked",
                "until_date": 0,
            },
        },
    }


def channel_post_update(chat_id: int, text: str) -> Dict[str, Any]:
    """An update with a post in a channel."""
    post = {
        "message_id": next(_message_ids),
        "sender_chat": {"id": -chat_id, "title": "News", "type": "channel"},
        "chat": {"id": -chat_id, "title": "News", "type": "channel"},
        "date": int(time.time()),
        "text": text,
    }
    return {"update_id": next_update_id(), "channel_post": post}


def callback_update(chat_id: int, data: str, keyboard: Optional[List[List[Dict[str, Any]]]] = None) -> Dict[str, Any]:
    """An update for a press on an inline button under one of the bot's messages."""
    bot_message = {
        "message_id": next(_message_ids),
        "from": {"id": 1, "is_bot": True, "first_name": "Imiquimod FAQ", "username": "imiquimod_test_bot"},
        "chat": _chat(chat_id),
        "date": int(time.time()),
        "text": "Hi! What would you like to know?",
        "reply_markup": {"inline_keyboard": keyboard or [[{"text": data, "callback_data": data}]]},
    }
    return {
        "update_id": next_update_id(),
        "callback_query": {
            "id": str(random.randint(10**17, 10**18)),
            "from": _user(chat_id),
            "message": bot_message,
            "chat_instance": str(random.randint(10**17, 10**18)),
            "data": data,
        },
    }


class WebhookClient:
    """Posts updates to the bot's Telegram webhook, as Telegram does."""

    def __init__(self, base_url: str, secret: str, timeout: float = 60.0) -> None:
        """Point the client at the Rasa server.

        Args:
            base_url: The Rasa server's base URL.
            secret: The secret token sent in ``X-Telegram-Bot-Api-Secret-Token``.
            timeout: Seconds per request.
        """
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout = timeout

    def post(self, update: Any, secret: Any = _NO_SECRET) -> Tuple[int, Any]:
        """Post one update.

        Args:
            update: The update (a dict), or raw bytes.
            secret: The secret header; this client's by default, None to leave it out.

        Returns:
            The HTTP status and the decoded JSON body (or None).
        """
        data = update if isinstance(update, bytes) else json.dumps(update).encode()
        headers = {"Content-Type": "application/json"}
        secret = self.secret if secret is _NO_SECRET else secret
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        request = urllib.request.Request(f"{self.base_url}{WEBHOOK_PATH}", data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                return error.code, json.loads(body or b"null")
            except ValueError:
                return error.code, None

    def health(self) -> Dict[str, Any]:
        """The channel's health route: ``{"status": "ok", "webhook": ...}``."""
        with urllib.request.urlopen(f"{self.base_url}/webhooks/telegram/", timeout=self.timeout) as response:
            return json.loads(response.read())
