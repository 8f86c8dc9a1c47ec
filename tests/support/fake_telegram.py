"""A fake Telegram Bot API on loopback, for testing the Telegram channel offline.

It answers ``/bot<token>/<method>`` the way the Bot API does
(``{"ok": true, "result": ...}``) for getMe, setWebhook, deleteWebhook,
getWebhookInfo, sendMessage and answerCallbackQuery, and records every call
with its parameters (JSON-looking form values are decoded). It runs an
aiohttp server in a thread, can start "down" (nothing listens, so
connections are refused) or "failing" (every call gets a 502), and can come
back up on the same port.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional

from aiohttp import web

from tests.support.servers import free_port


@dataclass
class Call:
    """One Bot API call the fake received.

    Attributes:
        method: The method name as called, e.g. ``sendMessage``.
        params: The parameters, JSON-looking values decoded.
    """

    method: str
    params: Dict[str, Any] = field(default_factory=dict)

    @property
    def chat_id(self) -> Optional[str]:
        """The ``chat_id`` parameter as a string, if any."""
        value = self.params.get("chat_id")
        return None if value is None else str(value)


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class FakeTelegram:
    """The fake Bot API server.

    Args:
        token: The bot token it accepts.
        username: The bot's username, returned by getMe.
    """

    def __init__(self, token: str, username: str) -> None:
        self.token = token
        self.username = username
        self.port = free_port()
        self.failing = False
        self._calls: List[Call] = []
        self._lock = threading.Lock()
        self._message_id = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-telegram", daemon=True)
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app)
        self._site: Optional[web.TCPSite] = None
        self._thread.start()
        self._run(self._runner.setup())

    @property
    def url(self) -> str:
        """The base URL to use as ``TELEGRAM_API_BASE``."""
        return f"http://127.0.0.1:{self.port}"

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _start_site(self) -> None:
        if self._site is None:
            self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
            await self._site.start()

    async def _stop_site(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None

    def up(self) -> None:
        """Listen and answer calls."""
        self.failing = False
        self._run(self._start_site())

    def down(self) -> None:
        """Stop listening: new connections are refused."""
        self._run(self._stop_site())

    def fail(self) -> None:
        """Keep listening but answer every call with a 502."""
        self.failing = True
        self._run(self._start_site())

    def close(self) -> None:
        """Stop the server and its thread."""
        self._run(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def calls(self, method: Optional[str] = None, chat_id: Optional[object] = None) -> List[Call]:
        """The calls received so far, optionally only one method's or one chat's."""
        with self._lock:
            calls = list(self._calls)
        if method is not None:
            calls = [c for c in calls if c.method.lower() == method.lower()]
        if chat_id is not None:
            calls = [c for c in calls if c.chat_id == str(chat_id)]
        return calls

    def sent_texts(self, chat_id: object) -> List[str]:
        """The texts of the messages sent to one chat, in order."""
        return [str(c.params.get("text", "")) for c in self.calls("sendMessage", chat_id)]

    def wait_for(self, method: str, count: int = 1, timeout: float = 30.0) -> List[Call]:
        """Wait until a method has been called ``count`` times.

        Raises:
            AssertionError: It was not called in time.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls = self.calls(method)
            if len(calls) >= count:
                return calls
            time.sleep(0.1)
        raise AssertionError(f"{method} was called {len(self.calls(method))} times, expected {count}")

    async def _params(self, request: web.Request) -> Dict[str, Any]:
        if request.content_type == "application/json":
            body = await request.json()
            return dict(body) if isinstance(body, dict) else {}
        form = await request.post()
        params = {key: value for key, value in request.query.items()}
        params.update({key: _decode(value) for key, value in form.items() if isinstance(value, str)})
        return params

    def _result(self, method: str, params: Dict[str, Any]) -> Any:
        name = method.lower()
        if name == "getme":
            bot_id = int(self.token.split(":")[0])
            return {"id": bot_id, "is_bot": True, "first_name": "Imiquimod FAQ", "username": self.username}
        if name in ("setwebhook", "deletewebhook", "answercallbackquery"):
            return True
        if name == "getwebhookinfo":
            webhooks = [c for c in self.calls("setWebhook")]
            url = webhooks[-1].params.get("url", "") if webhooks else ""
            return {"url": url, "has_custom_certificate": False, "pending_update_count": 0}
        if name == "sendmessage":
            with self._lock:
                self._message_id += 1
                message_id = self._message_id
            chat_id = int(params.get("chat_id", 0))
            return {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "text": params.get("text", ""),
            }
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        if self.failing:
            return web.json_response({"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502)
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await self._params(request)
        with self._lock:
            self._calls.append(Call(method, params))
        result = self._result(method, params)
        if result is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found: method not found"}, status=404
            )
        return web.json_response({"ok": True, "result": result})


TOKEN = "123456789:AAE-fake_token-for-tests"
USERNAME = "imiquimod_test_bot"
SECRET = "test-secret_0123456789"
WEBHOOK_URL = "https://bot.example.test/webhooks/telegram/webhook"


def bot_env(fake: FakeTelegram, retry_base_s: str = "0.2", retry_max_s: str = "1") -> Dict[str, str]:
    """The environment that turns the bot's Telegram channel on, against the fake.

    Args:
        fake: The fake Bot API.
        retry_base_s: The first pause between ``setWebhook`` attempts.
        retry_max_s: The longest pause.

    Returns:
        The ``TELEGRAM_*`` variables for ``start_bot(extra_env=...)``.
    """
    return {
        "TELEGRAM_TOKEN": fake.token,
        "TELEGRAM_BOT_USERNAME": fake.username,
        "TELEGRAM_WEBHOOK_URL": WEBHOOK_URL,
        "TELEGRAM_SECRET_TOKEN": SECRET,
        "TELEGRAM_API_BASE": fake.url,
        "TELEGRAM_RETRY_BASE_S": retry_base_s,
        "TELEGRAM_RETRY_MAX_S": retry_max_s,
    }


def running_fake() -> Iterator[FakeTelegram]:
    """A fake Bot API with the test token and username, up until the generator is closed.

    For module fixtures: ``yield from running_fake()``.
    """
    fake = FakeTelegram(TOKEN, USERNAME)
    fake.up()
    try:
        yield fake
    finally:
        fake.close()
