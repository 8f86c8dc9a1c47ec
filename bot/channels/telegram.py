"""The Telegram channel: Rasa's ``TelegramInput``, made safe to run in production.

``credentials.yml`` settings (``bot/serve.py`` fills them from the environment)::

    bot.channels.telegram.SafeTelegramInput:
      access_token: ...   # TELEGRAM_TOKEN, from BotFather
      verify: ...         # TELEGRAM_BOT_USERNAME, checked once against getMe
      webhook_url: ...    # TELEGRAM_WEBHOOK_URL, public HTTPS URL of /webhooks/telegram/webhook
      secret_token: ...   # TELEGRAM_SECRET_TOKEN, 1-256 of A-Z a-z 0-9 _ -
      api_base: ...       # TELEGRAM_API_BASE, Bot API base URL (default https://api.telegram.org)

Routes (prefix ``/webhooks/telegram``): ``GET /`` (health, with the webhook
state) and ``POST /webhook`` (Telegram's updates).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, Optional

from aiogram.bot.api import check_token
from aiogram.utils.exceptions import TelegramAPIError, ValidationError
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.telegram import TelegramInput
from rasa.shared.constants import INTENT_MESSAGE_PREFIX
from rasa.shared.core.constants import USER_INTENT_RESTART
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.guard import check_text
from bot.channels.telegram_output import DEFAULT_API_BASE, SafeTelegramOutput
from bot.channels.telegram_seen import HandledUpdates, handled_updates
from bot.channels.telegram_text import CallbackPayloads
from bot.channels.telegram_updates import (
    SECRET_HEADER,
    Incoming,
    parse_update,
    secret_matches,
    valid_secret,
)
from bot.channels.telegram_webhook import BotIdentity, RetryPolicy, WebhookRegistrar, describe, is_transient

logger = logging.getLogger(__name__)

RESTART_TEXT = INTENT_MESSAGE_PREFIX + USER_INTENT_RESTART
MessageHandler = Callable[[UserMessage], Awaitable[Any]]


def follow_rasa_log_level() -> None:
    """Log the Telegram channel at Rasa's level (``LOG_LEVEL``, ``--debug``).

    Under ``rasa run`` the root logger ends up at WARNING, so without this the
    channel's INFO lines (the webhook is set, a redelivery was dropped) would
    never show.
    """
    level = logging.getLogger("rasa").getEffectiveLevel()
    for name in (__name__, "bot.channels.telegram_webhook"):
        logging.getLogger(name).setLevel(level)


def _status(status: str, code: int = 200) -> HTTPResponse:
    return response.json({"status": status}, status=code)


class SafeTelegramInput(TelegramInput):
    """Rasa's Telegram input channel, with these differences.

    - Startup makes no network call: ``getMe`` (once, cached) and
      ``setWebhook`` run in the background after the server starts, retried
      with backoff until they succeed; failures are logged, and every other
      channel keeps serving.
    - The aiogram ``Bot`` is created on first use, in the server's event loop.
    - ``setWebhook`` registers a secret token and ``allowed_updates``
      (messages and button presses); a request without the matching
      ``X-Telegram-Bot-Api-Secret-Token`` header gets a 403.
    - Edited messages and updates without text or button data get a 200 and
      are ignored.
    - A button press is answered with ``answerCallbackQuery`` and its data
      read as the patient's message.
    - A redelivered update (same ``update_id``) is answered once, by any of
      several workers when they share a Redis (``redis_host``); if the Bot
      API fails while answering, the request gets a 503 so Telegram delivers
      the update again.
    - Text goes through ``bot.channels.guard.check_text``, as on REST.
    - No patient text is logged.
    """

    @classmethod
    def name(cls) -> str:
        """Keep Rasa's route, /webhooks/telegram/."""
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> InputChannel:
        """Build the channel from its ``credentials.yml`` section."""
        if not credentials:
            cls.raise_missing_credentials_exception()
        settings: Dict[str, Any] = credentials or {}
        return cls(
            settings.get("access_token"),
            settings.get("verify"),
            settings.get("webhook_url"),
            settings.get("secret_token"),
            settings.get("api_base"),
            seen=handled_updates(settings.get("redis_host"), settings.get("redis_port"), settings.get("redis_db")),
        )

    def __init__(
        self,
        access_token: Optional[str],
        verify: Optional[str],
        webhook_url: Optional[str],
        secret_token: Optional[str] = None,
        api_base: Optional[str] = None,
        retry: Optional[RetryPolicy] = None,
        seen: Optional[HandledUpdates] = None,
    ) -> None:
        """Check the settings; no request is made here.

        Args:
            access_token: The bot's token.
            verify: The bot's username, compared once with ``getMe``.
            webhook_url: The public HTTPS URL Telegram posts updates to.
            secret_token: The webhook secret.
            api_base: The Bot API base URL.
            retry: The backoff for ``setWebhook``; from the environment by default.
            seen: The record of handled updates; in this process by default,
                in Redis when the credentials name one (several workers).

        Raises:
            RasaException: A setting is missing or malformed.
        """
        try:
            check_token(access_token)
        except ValidationError:
            raise RasaException(
                "Telegram: the token is not a bot token (<digits>:<text>, as BotFather gives it)."
            ) from None
        if secret_token is None or not valid_secret(secret_token):
            raise RasaException("Telegram: the secret token must be 1-256 characters of A-Z, a-z, 0-9, _ and -.")
        if not webhook_url:
            raise RasaException("Telegram: the webhook URL is missing.")
        super().__init__(access_token, verify, webhook_url, debug_mode=False)
        follow_rasa_log_level()
        self.secret_token: str = secret_token
        self.api_base = api_base or DEFAULT_API_BASE
        self._callbacks = CallbackPayloads()
        self._seen: HandledUpdates = seen or handled_updates(None, None, None)
        self._identity = BotIdentity(verify)
        self._output: Optional[SafeTelegramOutput] = None
        self._registrar = WebhookRegistrar(
            self.get_output_channel,
            self._identity,
            webhook_url,
            secret_token,
            retry or RetryPolicy.from_env(),
            redact=self._redact,
        )
        self._registration: Optional[asyncio.Task] = None

    def _redact(self, text: str) -> str:
        return text.replace(self.access_token or "\0", "<token>").replace(self.secret_token, "<secret>")

    def get_output_channel(self) -> SafeTelegramOutput:
        """The shared output channel, created on first use (its session opens in the running loop)."""
        if self._output is None:
            self._output = SafeTelegramOutput(self.access_token, self.api_base, self._callbacks)
        return self._output

    def blueprint(self, on_new_message: MessageHandler) -> Blueprint:
        """Build the channel's routes and its start and stop listeners."""
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.listener("after_server_start")
        async def start_registration(_app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
            self._registration = asyncio.get_running_loop().create_task(self._registrar.run())

        @webhook.listener("before_server_stop")
        async def stop(_app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
            if self._registration is not None:
                self._registration.cancel()
            if self._output is not None:
                await self._output.close_session()
            await self._seen.close()

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "webhook": self._registrar.state})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not secret_matches(self.secret_token, request.headers.get(SECRET_HEADER)):
                logger.warning("Telegram: refused a webhook request without the right secret token")
                return _status("forbidden", 403)
            try:
                body = request.json
            except Exception:  # noqa: BLE001 - any parse failure is the sender's
                return _status("not JSON", 400)
            if not isinstance(body, dict):
                return _status("not an update", 400)
            incoming = parse_update(body)
            if incoming is None or self._identity.mismatch:
                logger.debug("Telegram: ignored an update of another type")
                return _status("ignored")
            if not await self._seen.first_time(incoming.update_id):
                logger.info("Telegram: update %s was already handled; ignoring the redelivery", incoming.update_id)
                return _status("duplicate")
            return await self._answer(incoming, on_new_message)

        return webhook

    async def _answer(self, incoming: Incoming, on_new_message: MessageHandler) -> HTTPResponse:
        """Handle one update and choose the webhook response."""
        try:
            await self._handle(incoming, on_new_message)
        except Exception as error:  # noqa: BLE001 - report, never crash the request
            if is_transient(error):
                await self._seen.forget(incoming.update_id)
                logger.warning(
                    "Telegram: update %s not answered, the Bot API failed (%s); Telegram will deliver it again",
                    incoming.update_id,
                    self._redact(describe(error)),
                )
                return _status("Bot API unavailable", 503)
            logger.error("Telegram: update %s could not be handled (%s)", incoming.update_id, type(error).__name__)
            logger.debug("Telegram: handling failed", exc_info=True)
            return _status("failed")
        return _status("answered")

    async def _handle(self, incoming: Incoming, on_new_message: MessageHandler) -> None:
        """Pass a message or a button press to the bot; the replies go out as the bot sends them."""
        output = self.get_output_channel()
        text = incoming.text
        if incoming.callback_query_id is not None:
            await self._stop_spinner(output, incoming.callback_query_id)
            text = self._callbacks.decode(text, incoming.button_title) if text is not None else None
        if incoming.chat_id is None or text is None:
            return
        sender = str(incoming.chat_id)
        checked = check_text(text)
        if checked.text is not None:
            await on_new_message(UserMessage(checked.text, output, sender, input_channel=self.name()))
            if checked.text == RESTART_TEXT:
                await on_new_message(UserMessage("/start", output, sender, input_channel=self.name()))
        if checked.notice:
            await output.send_text_message(sender, checked.notice)

    async def _stop_spinner(self, output: SafeTelegramOutput, callback_query_id: str) -> None:
        """Answer a button press so the client stops its spinner; a refused answer does not stop the reply."""
        try:
            await output.answer_callback_query(callback_query_id)
        except TelegramAPIError as error:
            if is_transient(error):
                raise
            logger.warning("Telegram: answerCallbackQuery refused (%s)", self._redact(describe(error)))


__all__ = ["SafeTelegramInput", "SafeTelegramOutput"]
