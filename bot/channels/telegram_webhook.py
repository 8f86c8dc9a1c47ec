"""Register the Telegram webhook in the background, retrying until it works.

Startup never waits for Telegram: the Rasa server serves every channel at
once, and this task checks the bot's identity (``getMe``, once) and calls
``setWebhook`` with growing pauses until both succeed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping, Optional

from aiogram.utils.exceptions import NetworkError, RestartingTelegram, RetryAfter, TelegramAPIError

from bot.channels.telegram_output import SafeTelegramOutput
from bot.channels.telegram_updates import ALLOWED_UPDATES

logger = logging.getLogger(__name__)

RETRY_BASE_ENV = "TELEGRAM_RETRY_BASE_S"
RETRY_MAX_ENV = "TELEGRAM_RETRY_MAX_S"


def is_transient(error: BaseException) -> bool:
    """Whether a failed Bot API call may work if tried again later.

    Network failures, timeouts, "retry after" and Telegram's own 5xx errors
    are transient; a rejected request (bad chat, blocked bot) is not.
    """
    if isinstance(error, (NetworkError, RestartingTelegram, RetryAfter, asyncio.TimeoutError)):
        return True
    return type(error) is TelegramAPIError


def describe(error: BaseException) -> str:
    """A one-line description of an error for the log."""
    return f"{type(error).__name__}: {error}".strip().rstrip(":")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``base_s``, doubling each attempt, at most ``max_s``, with jitter.

    Attributes:
        base_s: The first pause, in seconds.
        max_s: The longest pause, in seconds.
    """

    base_s: float = 2.0
    max_s: float = 300.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RetryPolicy:
        """Read ``TELEGRAM_RETRY_BASE_S`` and ``TELEGRAM_RETRY_MAX_S``, falling back to the defaults."""
        values = {}
        for field, name in (("base_s", RETRY_BASE_ENV), ("max_s", RETRY_MAX_ENV)):
            raw = environ.get(name)
            if not raw:
                continue
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if value > 0:
                values[field] = value
            else:
                logger.warning("%s must be a positive number of seconds; using the default", name)
        return cls(**values)

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt number ``attempt`` (1, 2, ...)."""
        full = min(self.max_s, self.base_s * 2 ** min(max(attempt - 1, 0), 30))
        return full * random.uniform(0.75, 1.0)


class BotIdentity:
    """The bot's username from ``getMe``, asked once and compared with ``TELEGRAM_BOT_USERNAME``."""

    def __init__(self, expected: Optional[str]) -> None:
        """Remember the expected username.

        Args:
            expected: The configured username, with or without ``@``; empty to accept any.
        """
        self.expected = (expected or "").strip().lstrip("@")
        self.username: Optional[str] = None

    @property
    def checked(self) -> bool:
        """Whether ``getMe`` has answered."""
        return self.username is not None

    @property
    def mismatch(self) -> bool:
        """Whether the token belongs to another bot than the configured one."""
        username = self.username
        return username is not None and bool(self.expected) and username.lower() != self.expected.lower()

    async def check(self, bot: SafeTelegramOutput) -> bool:
        """Ask ``getMe`` the first time only, and say whether the username matches.

        Args:
            bot: The output channel.

        Returns:
            False if the token belongs to another bot.

        Raises:
            TelegramAPIError: ``getMe`` failed; nothing is cached.
        """
        if not self.checked:
            me = await bot.get_me()
            self.username = me.username or ""
        return not self.mismatch


class WebhookRegistrar:
    """Sets the webhook once the Bot API answers, retrying with backoff."""

    def __init__(
        self,
        output: Callable[[], SafeTelegramOutput],
        identity: BotIdentity,
        url: str,
        secret_token: str,
        policy: RetryPolicy,
        redact: Callable[[str], str] = lambda text: text,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Prepare the registration.

        Args:
            output: Returns the output channel (created in the server's loop).
            identity: The bot's identity check.
            url: The public webhook URL.
            secret_token: The webhook secret.
            policy: The backoff.
            redact: Removes secrets from text before it is logged.
            sleep: Waits between attempts.
        """
        self._output = output
        self._identity = identity
        self._url = url
        self._secret_token = secret_token
        self._policy = policy
        self._redact = redact
        self._sleep = sleep
        self.state = "pending"

    async def run(self) -> None:
        """Try until the webhook is set, or the token turns out to be another bot's."""
        attempt = 0
        while True:
            attempt += 1
            try:
                bot = self._output()
                if not await self._identity.check(bot):
                    self.state = "refused"
                    logger.error(
                        "Telegram: the token belongs to @%s, not @%s (TELEGRAM_BOT_USERNAME). "
                        "The webhook is not set and Telegram updates are ignored.",
                        self._identity.username,
                        self._identity.expected,
                    )
                    return
                await bot.register_webhook(self._url, self._secret_token, ALLOWED_UPDATES)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - any failure is retried
                pause = self._policy.delay(attempt)
                if isinstance(error, RetryAfter):
                    pause = max(pause, float(error.timeout))
                logger.warning(
                    "Telegram: could not set the webhook (attempt %d, %s). "
                    "The other channels keep serving; retrying in %.1f s.",
                    attempt,
                    self._redact(describe(error)),
                    pause,
                )
                await self._sleep(pause)
                continue
            self.state = "set"
            logger.info("Telegram: webhook set to %s for @%s (attempt %d)", self._url, self._identity.username, attempt)
            return


__all__ = ["BotIdentity", "RetryPolicy", "WebhookRegistrar", "describe", "is_transient"]
