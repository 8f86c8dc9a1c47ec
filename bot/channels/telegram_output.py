"""Send the bot's replies to Telegram, within Telegram's limits.

A subclass of Rasa's ``TelegramOutput`` (an aiogram 2 ``Bot``). Its aiohttp
session is opened by the first request, so it belongs to the event loop
that makes it: the Rasa server's. Nothing here runs in ``asyncio.run``.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence

from aiogram.bot import api
from aiogram.bot.api import TelegramAPIServer
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from rasa.core.channels.telegram import TelegramOutput

from bot.channels.telegram_text import CallbackPayloads, split_message

DEFAULT_API_BASE = "https://api.telegram.org"
REQUEST_TIMEOUT_S = 20.0
BUTTONS_ONLY_TEXT = "Please choose:"


class SafeTelegramOutput(TelegramOutput):
    """Rasa's Telegram output channel, with these differences.

    - Replies over 4096 characters are split at sentence boundaries (Rasa's
      split of a text reply on blank lines is kept).
    - Buttons become an inline keyboard, one button per row so that titles
      stay readable on a phone, and every ``callback_data`` fits in 64 bytes
      (see ``CallbackPayloads``).
    - The Bot API base URL can point at a self-hosted Bot API server.
    - Requests time out after ``REQUEST_TIMEOUT_S`` seconds.
    - Text is sent as plain text (no ``parse_mode``): leaflet wording is never
      read as markup.
    """

    def __init__(
        self,
        access_token: Optional[str],
        api_base: str = DEFAULT_API_BASE,
        callbacks: Optional[CallbackPayloads] = None,
    ) -> None:
        """Create the output channel; no request is made yet.

        Args:
            access_token: The bot's token from BotFather.
            api_base: The Bot API base URL.
            callbacks: Where long button payloads are remembered.
        """
        super().__init__(access_token)
        self.server = TelegramAPIServer.from_base(api_base or DEFAULT_API_BASE)
        self.timeout = REQUEST_TIMEOUT_S
        self.callbacks = callbacks or CallbackPayloads()

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Send a text reply: one message per paragraph, each within Telegram's length limit."""
        for paragraph in text.strip().split("\n\n"):
            for part in split_message(paragraph):
                await self.send_message(recipient_id, part)

    def keyboard(self, buttons: Sequence[Dict[str, Any]]) -> InlineKeyboardMarkup:
        """Build an inline keyboard, one button per row, with bounded ``callback_data``.

        Args:
            buttons: Rasa buttons with ``title`` and ``payload``.

        Returns:
            The keyboard.
        """
        markup = InlineKeyboardMarkup()
        for button in buttons:
            title = str(button.get("title") or button.get("payload") or "")
            payload = str(button.get("payload") or title)
            if title:
                markup.row(InlineKeyboardButton(title, callback_data=self.callbacks.encode(payload)))
        return markup

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: List[Dict[str, Any]],
        button_type: Optional[str] = "inline",
        **kwargs: Any,
    ) -> None:
        """Send a reply with buttons as an inline keyboard under its last part.

        Args:
            recipient_id: The chat id.
            text: The reply.
            buttons: Rasa buttons with ``title`` and ``payload``.
            button_type: Ignored: the keyboard is always inline.
            **kwargs: Ignored.
        """
        parts = split_message(text) or [BUTTONS_ONLY_TEXT]
        for part in parts[:-1]:
            await self.send_message(recipient_id, part)
        await self.send_message(recipient_id, parts[-1], reply_markup=self.keyboard(buttons))

    async def register_webhook(self, url: str, secret_token: str, allowed_updates: Sequence[str]) -> bool:
        """Call ``setWebhook`` with a secret and the update types the bot handles.

        aiogram 2.15 predates ``secret_token``, so the call is made directly.

        Args:
            url: The public HTTPS URL of ``/webhooks/telegram/webhook``.
            secret_token: Sent back by Telegram in ``X-Telegram-Bot-Api-Secret-Token``.
            allowed_updates: The update types to receive.

        Returns:
            Telegram's result (True on success).
        """
        payload = {"url": url, "secret_token": secret_token, "allowed_updates": json.dumps(list(allowed_updates))}
        return bool(await self.request(api.Methods.SET_WEBHOOK, payload))

    async def close_session(self) -> None:
        """Close the aiohttp session, if one was opened."""
        if self._session is not None and not self._session.closed:
            await self._session.close()


__all__ = ["DEFAULT_API_BASE", "SafeTelegramOutput"]
