"""Unit tests for the Telegram channel's parts: no server, no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import yaml
from aiogram.types import User
from aiogram.utils.exceptions import NetworkError
from rasa.shared.exceptions import RasaException

from bot.channels.telegram import SafeTelegramInput
from bot.channels.telegram_output import SafeTelegramOutput
from bot.channels.telegram_seen import SeenUpdates, SharedSeenUpdates, handled_updates
from bot.channels.telegram_text import MAX_CALLBACK_BYTES, CallbackPayloads, split_message, utf16_units
from bot.channels.telegram_updates import parse_update, secret_matches, valid_secret
from bot.channels.telegram_webhook import BotIdentity, RetryPolicy, WebhookRegistrar
from bot.credentials import select_channels, write_runtime_credentials
from tests.support import telegram_updates as updates

PROJECT_DIR = Path(__file__).resolve().parent.parent
TOKEN = "123456789:AAE-fake_token-for-tests"
SECRET = "test-secret_0123456789"


# --- splitting long replies ---------------------------------------------------------------------


def test_a_short_reply_is_sent_as_it_is() -> None:
    assert split_message("  Store it at room temperature.  ") == ["Store it at room temperature."]
    assert split_message("   ") == []


def test_a_long_reply_is_split_at_sentence_boundaries() -> None:
    sentences = [f"Sentence {i} tells you something about the cream." for i in range(300)]
    text = " ".join(sentences)
    parts = split_message(text)
    assert len(parts) == 4
    assert all(utf16_units(p) <= 4096 for p in parts)
    assert all(p.endswith("cream.") for p in parts)
    assert " ".join(parts) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("First one. Second one! Third?", ["First one.", "Second one!", "Third?"]),
        ('He said "stop." Then left.', ['He said "stop."', "Then left."]),
        ("Line one\nLine two", ["Line one", "Line two"]),
    ],
)
def test_sentence_ends_and_line_breaks_are_boundaries(text: str, expected: List[str]) -> None:
    assert split_message(text, limit=16) == expected


def test_a_sentence_longer_than_the_limit_is_split_between_words() -> None:
    text = " ".join(["word"] * 2000)
    parts = split_message(text)
    assert all(utf16_units(p) <= 4096 for p in parts)
    assert " ".join(parts) == text


def test_a_word_longer_than_the_limit_is_cut() -> None:
    text = "x" * 10000
    parts = split_message(text)
    assert [len(p) for p in parts] == [4096, 4096, 1808]


def test_length_is_counted_in_utf16_units_as_telegram_does() -> None:
    text = "😀" * 3000
    parts = split_message(text)
    assert [utf16_units(p) for p in parts] == [4096, 1904]
    assert "".join(parts) == text


# --- bounding callback_data ------------------------------------------------------------------


def test_payloads_that_fit_are_sent_unchanged() -> None:
    callbacks = CallbackPayloads()
    assert callbacks.encode("How should I store the cream?") == "How should I store the cream?"
    assert callbacks.encode("x" * 64) == "x" * 64


@pytest.mark.parametrize(
    "payload", ["x" * 65, "é" * 40, "How long do I leave the cream on, and should I wash it off? " * 2]
)
def test_long_payloads_are_mapped_within_64_bytes_and_back(payload: str) -> None:
    callbacks = CallbackPayloads()
    data = callbacks.encode(payload)
    assert 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES
    assert callbacks.decode(data) == payload


def test_a_payload_that_looks_like_a_key_is_mapped_too() -> None:
    callbacks = CallbackPayloads()
    data = callbacks.encode("~cb:abc")
    assert data != "~cb:abc"
    assert callbacks.decode(data) == "~cb:abc"


def test_a_forgotten_key_falls_back_to_the_button_title() -> None:
    callbacks = CallbackPayloads(capacity=1)
    first = callbacks.encode("a" * 100)
    callbacks.encode("b" * 100)
    assert callbacks.decode(first, "Storage and disposal") == "Storage and disposal"
    assert callbacks.decode(first) is None


def test_every_greeting_button_payload_is_sent_unchanged() -> None:
    domain = yaml.safe_load((PROJECT_DIR / "domain.yml").read_text(encoding="utf-8"))
    buttons = [b for variant in domain["responses"]["utter_greet"] for b in variant.get("buttons", [])]
    callbacks = CallbackPayloads()
    assert buttons
    assert all(callbacks.encode(b["payload"]) == b["payload"] for b in buttons)


# --- the webhook secret ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "ok"),
    [(SECRET, True), ("wrong", False), (None, False), ("", False), (SECRET[:-1], False), (SECRET + "x", False)],
)
def test_the_secret_header_must_match_exactly(received: Optional[str], ok: bool) -> None:
    assert secret_matches(SECRET, received) is ok


def test_non_ascii_secret_headers_are_refused_not_crashed_on() -> None:
    assert secret_matches(SECRET, "sécret") is False
    assert secret_matches("", "") is False


@pytest.mark.parametrize(
    ("secret", "ok"),
    [("abc_DEF-123", True), ("x" * 256, True), ("", False), ("has space", False), ("x" * 257, False), (None, False)],
)
def test_secrets_telegram_accepts(secret: object, ok: bool) -> None:
    assert valid_secret(secret) is ok


# --- reading updates -------------------------------------------------------------------------


def test_a_text_message_is_read() -> None:
    update = updates.text_update(42, "how should I store the cream?", update_id=7)
    incoming = parse_update(update)
    assert incoming is not None
    assert (incoming.update_id, incoming.chat_id, incoming.text) == (7, 42, "how should I store the cream?")
    assert incoming.callback_query_id is None


@pytest.mark.parametrize("text", ["/start", "/start@imiquimod_test_bot", "/start ref-campaign"])
def test_start_commands_are_normalised(text: str) -> None:
    assert parse_update(updates.text_update(42, text)).text == "/start"


def test_a_button_press_is_read_with_its_title() -> None:
    keyboard = [[{"text": "Storage and disposal", "callback_data": "How should I store the cream?"}]]
    update = updates.callback_update(42, "How should I store the cream?", keyboard)
    incoming = parse_update(update)
    assert incoming.callback_query_id == update["callback_query"]["id"]
    assert (incoming.chat_id, incoming.text, incoming.button_title) == (
        42,
        "How should I store the cream?",
        "Storage and disposal",
    )


@pytest.mark.parametrize(
    "update",
    [
        updates.edited_update(42, "edited text"),
        updates.sticker_update(42),
        updates.photo_update(42, "is this rash normal?"),
        updates.my_chat_member_update(42),
        updates.channel_post_update(42, "news"),
        {"update_id": 1},
        {"update_id": 2, "message": {"text": "no chat"}},
    ],
)
def test_other_updates_are_ignored(update: Dict[str, Any]) -> None:
    assert parse_update(update) is None


async def test_a_redelivered_update_is_seen_and_the_record_is_bounded() -> None:
    seen = SeenUpdates(capacity=2)
    assert await seen.first_time(1) and not await seen.first_time(1)
    await seen.forget(1)
    assert await seen.first_time(1)
    assert await seen.first_time(2) and await seen.first_time(3)
    assert await seen.first_time(1), "the oldest id was evicted"
    assert await seen.first_time(None) and await seen.first_time(None)


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    from bot import services
    from tests.support.servers import free_port

    port = free_port()
    redis = services.start_redis(tmp_path_factory.mktemp("redis"), port)
    try:
        yield port
    finally:
        redis.process.terminate()
        redis.process.wait(timeout=10)


async def test_workers_sharing_redis_answer_a_redelivered_update_once(redis_port: int) -> None:
    import redis

    worker_a = handled_updates("127.0.0.1", str(redis_port), "3")
    worker_b = handled_updates("127.0.0.1", str(redis_port), "3")
    assert isinstance(worker_a, SharedSeenUpdates)
    update_id = 900_000 + redis_port
    try:
        assert await worker_a.first_time(update_id)
        assert not await worker_b.first_time(update_id), "the other worker must see the update as handled"
        assert not await worker_a.first_time(update_id)
        ttl = redis.Redis(port=redis_port, db=3).ttl(f"imiquimodfaq:telegram:update:{update_id}")
        assert 0 < ttl <= 24 * 60 * 60, "handled ids expire"
        # The Bot API failed while answering: the redelivery, wherever it lands, is handled.
        await worker_a.forget(update_id)
        assert await worker_b.first_time(update_id)
        assert await worker_a.first_time(None)
    finally:
        await worker_a.close()
        await worker_b.close()


async def test_without_redis_the_update_is_answered_rather_than_dropped() -> None:
    from tests.support.servers import free_port

    seen = SharedSeenUpdates("127.0.0.1", free_port())
    try:
        assert await seen.first_time(1)
        await seen.forget(1)  # no error either
    finally:
        await seen.close()
    assert isinstance(handled_updates("", "6379", "0"), SeenUpdates)


# --- the output channel ----------------------------------------------------------------------


class RecordingOutput(SafeTelegramOutput):
    """Records what would be sent instead of calling Telegram."""

    def __init__(self) -> None:
        super().__init__(TOKEN, "http://127.0.0.1:9")
        self.sent: List[Tuple[str, str, Any]] = []
        self.requests: List[Tuple[str, Dict[str, Any]]] = []

    async def send_message(self, chat_id: Any, text: str, **kwargs: Any) -> None:  # type: ignore[override]
        self.sent.append((str(chat_id), text, kwargs.get("reply_markup")))

    async def request(self, method: str, data: Optional[Dict[str, Any]] = None, *args: Any, **kwargs: Any) -> Any:
        self.requests.append((method, dict(data or {})))
        return True


async def test_buttons_become_an_inline_keyboard_with_bounded_callback_data() -> None:
    output = RecordingOutput()
    long_payload = "Can I use the cream if I am breastfeeding or planning to become pregnant soon?"
    buttons = [
        {"title": "Storage", "payload": "How should I store the cream?"},
        {"title": "Pregnancy", "payload": long_payload},
    ]
    await output.send_text_with_buttons("42", "What would you like to know?", buttons)
    [(chat, text, markup)] = output.sent
    rows = markup.to_python()["inline_keyboard"]
    assert (chat, text) == ("42", "What would you like to know?")
    assert [[b["text"] for b in row] for row in rows] == [["Storage"], ["Pregnancy"]]
    assert rows[0][0]["callback_data"] == "How should I store the cream?"
    assert len(rows[1][0]["callback_data"].encode()) <= 64
    assert output.callbacks.decode(rows[1][0]["callback_data"]) == long_payload


async def test_a_long_reply_is_sent_as_several_messages_with_the_keyboard_on_the_last() -> None:
    output = RecordingOutput()
    text = "This sentence is about the cream. " * 300
    await output.send_text_with_buttons("42", text, [{"title": "More", "payload": "more"}])
    assert len(output.sent) == 3
    assert all(utf16_units(t) <= 4096 for _, t, _ in output.sent)
    assert [m is not None for _, _, m in output.sent] == [False, False, True]


async def test_text_replies_are_split_on_blank_lines_and_length() -> None:
    output = RecordingOutput()
    await output.send_text_message("42", "Short first.\n\n" + "A long sentence here. " * 400 + "\n\n\n\n")
    texts = [t for _, t, _ in output.sent]
    assert texts[0] == "Short first."
    assert len(texts) == 4 and all(0 < utf16_units(t) <= 4096 for t in texts)


async def test_set_webhook_sends_the_secret_and_the_update_types() -> None:
    output = RecordingOutput()
    assert await output.register_webhook("https://bot.example.test/hook", SECRET, ["message", "callback_query"])
    [(method, payload)] = output.requests
    assert method == "setWebhook"
    assert payload["secret_token"] == SECRET
    assert json.loads(payload["allowed_updates"]) == ["message", "callback_query"]


# --- webhook registration --------------------------------------------------------------------


class FlakyBot:
    """getMe works; setWebhook fails a number of times, then works."""

    def __init__(self, failures: int, username: str = "imiquimod_test_bot") -> None:
        self.failures = failures
        self.username = username
        self.get_me_calls = 0
        self.webhooks: List[Tuple[str, str, Tuple[str, ...]]] = []

    async def get_me(self) -> User:
        self.get_me_calls += 1
        return User(id=123456789, is_bot=True, first_name="Bot", username=self.username)

    async def register_webhook(self, url: str, secret_token: str, allowed_updates: Tuple[str, ...]) -> bool:
        if self.failures > 0:
            self.failures -= 1
            raise NetworkError("aiohttp client throws an error: ClientConnectorError: Cannot connect to host")
        self.webhooks.append((url, secret_token, tuple(allowed_updates)))
        return True


async def test_set_webhook_is_retried_with_backoff_and_getme_is_asked_once(caplog: pytest.LogCaptureFixture) -> None:
    bot = FlakyBot(failures=4)
    pauses: List[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    registrar = WebhookRegistrar(
        lambda: bot,
        BotIdentity("@imiquimod_test_bot"),
        "https://x.test/hook",
        SECRET,
        RetryPolicy(1.0, 5.0),
        sleep=sleep,
    )
    await registrar.run()
    assert registrar.state == "set"
    assert bot.webhooks == [("https://x.test/hook", SECRET, ("message", "callback_query"))]
    assert bot.get_me_calls == 1
    ceilings = [1.0, 2.0, 4.0, 5.0]
    assert len(pauses) == 4 and all(0.75 * c <= p <= c for p, c in zip(pauses, ceilings, strict=True))
    assert "could not set the webhook (attempt 1, NetworkError" in caplog.text


async def test_a_token_of_another_bot_is_never_registered() -> None:
    bot = FlakyBot(failures=0, username="someone_elses_bot")
    identity = BotIdentity("imiquimod_test_bot")
    registrar = WebhookRegistrar(lambda: bot, identity, "https://x.test/hook", SECRET, RetryPolicy())
    await registrar.run()
    assert registrar.state == "refused" and identity.mismatch
    assert bot.webhooks == []


def test_the_backoff_reads_the_environment() -> None:
    assert RetryPolicy.from_env({"TELEGRAM_RETRY_BASE_S": "0.5", "TELEGRAM_RETRY_MAX_S": "3"}) == RetryPolicy(0.5, 3.0)
    assert RetryPolicy.from_env({"TELEGRAM_RETRY_BASE_S": "soon", "TELEGRAM_RETRY_MAX_S": "-1"}) == RetryPolicy()
    assert RetryPolicy(2.0, 300.0).delay(40) <= 300.0


# --- building the channel --------------------------------------------------------------------


def test_building_the_channel_makes_no_request() -> None:
    channel = SafeTelegramInput.from_credentials(
        {
            "access_token": TOKEN,
            "verify": "imiquimod_test_bot",
            "webhook_url": "https://x.test/h",
            "secret_token": SECRET,
        }
    )
    assert channel.name() == "telegram"
    assert channel._output is None, "the aiogram Bot is created on first use, in the server's loop"


@pytest.mark.parametrize(
    ("token", "secret", "url"),
    [("not-a-token", SECRET, "https://x.test/h"), (TOKEN, "bad secret!", "https://x.test/h"), (TOKEN, SECRET, "")],
)
def test_bad_settings_are_reported_clearly(token: str, secret: str, url: str) -> None:
    with pytest.raises(RasaException, match="Telegram: "):
        SafeTelegramInput(token, "imiquimod_test_bot", url, secret)


# --- which channels are served -----------------------------------------------------------------

TELEGRAM = "bot.channels.telegram.SafeTelegramInput"
TELEGRAM_ENV = {
    "TELEGRAM_TOKEN": TOKEN,
    "TELEGRAM_BOT_USERNAME": "imiquimod_test_bot",
    "TELEGRAM_WEBHOOK_URL": "https://bot.example.test/webhooks/telegram/webhook",
    "TELEGRAM_SECRET_TOKEN": SECRET,
}


def _credentials() -> Dict[str, Any]:
    return yaml.safe_load((PROJECT_DIR / "credentials.yml").read_text(encoding="utf-8"))


def test_without_a_token_telegram_is_off_and_the_other_channels_are_served() -> None:
    channels = select_channels(_credentials(), {})
    assert TELEGRAM not in channels.serve
    assert "TELEGRAM_TOKEN" in channels.off[TELEGRAM]
    assert "bot.channels.rest.SafeRestInput" in channels.serve


def test_with_a_token_but_no_secret_telegram_stays_off() -> None:
    environ = {k: v for k, v in TELEGRAM_ENV.items() if k != "TELEGRAM_SECRET_TOKEN"}
    assert select_channels(_credentials(), environ).off[TELEGRAM] == ["TELEGRAM_SECRET_TOKEN"]


def test_the_api_base_is_optional() -> None:
    served = select_channels(_credentials(), TELEGRAM_ENV).serve[TELEGRAM]
    assert served["access_token"] == "${TELEGRAM_TOKEN}"
    assert served["api_base"] == "https://api.telegram.org"
    with_base = select_channels(_credentials(), dict(TELEGRAM_ENV, TELEGRAM_API_BASE="http://127.0.0.1:8081"))
    assert with_base.serve[TELEGRAM]["api_base"] == "${TELEGRAM_API_BASE}"


def test_rasa_reads_the_runtime_credentials_with_the_values_filled_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasa.shared.utils.io import read_config_file

    for name, value in TELEGRAM_ENV.items():
        monkeypatch.setenv(name, value)
    path = write_runtime_credentials(tmp_path, environ=TELEGRAM_ENV, quiet=True)
    assert TOKEN not in path.read_text(encoding="utf-8"), "no secret is written to disk"
    telegram = read_config_file(path)[TELEGRAM]
    assert telegram["access_token"] == TOKEN
    assert telegram["secret_token"] == SECRET
    assert telegram["api_base"] == "https://api.telegram.org"


def test_rasa_reads_the_runtime_credentials_without_telegram(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from rasa.shared.utils.io import read_config_file

    path = write_runtime_credentials(tmp_path, environ={})
    assert TELEGRAM not in read_config_file(path)
    assert f"channel {TELEGRAM} is off" in capsys.readouterr().out
