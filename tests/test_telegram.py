"""The Telegram channel end to end: the real bot, started by ``bot.serve``, against a fake Bot API.

Real-shaped updates are posted to ``/webhooks/telegram/webhook`` as Telegram
would, and the fake records every Bot API call the bot makes in return.
"""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

import pytest

from tests.support.botclient import BotClient
from tests.support.fake_telegram import SECRET, TOKEN, WEBHOOK_URL, FakeTelegram, bot_env, running_fake
from tests.support.servers import RunningBot, start_bot
from tests.support.telegram_updates import (
    WebhookClient,
    callback_update,
    channel_post_update,
    edited_update,
    my_chat_member_update,
    new_chat_id,
    photo_update,
    sticker_update,
    text_update,
)

pytestmark = pytest.mark.server

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ESCALATION_START = "Stop using the cream and contact your provider"
STORAGE_START = "Store imiquimod at room temperature away from heat and light."


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTelegram]:
    """The fake Bot API, up."""
    yield from running_fake()


@pytest.fixture(scope="module")
def telegram_bot(fake: FakeTelegram, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    """Both servers with the Telegram channel on, its webhook registered with the fake."""
    ARTIFACTS.mkdir(exist_ok=True)
    bot = start_bot(tmp_path_factory.mktemp("telegram-bot"), ARTIFACTS / "telegram-bot.log", extra_env=bot_env(fake))
    try:
        fake.wait_for("setWebhook", timeout=60)
    except AssertionError:
        bot.stop()
        raise
    yield bot
    assert bot.stop() == 0, "the servers did not stop cleanly on SIGTERM"


@pytest.fixture(scope="module")
def webhook(telegram_bot: RunningBot) -> WebhookClient:
    """Posts updates as Telegram does, with the right secret."""
    return WebhookClient(telegram_bot.url, SECRET)


def _user_texts(bot: RunningBot, chat_id: int) -> list:
    events = BotClient(bot.url).tracker_events(str(chat_id))
    return [e.get("text") for e in events if e.get("event") == "user"]


def test_the_webhook_is_set_with_a_secret_and_the_update_types_the_bot_handles(
    fake: FakeTelegram, webhook: WebhookClient
) -> None:
    [call] = fake.calls("setWebhook")
    assert call.params["url"] == WEBHOOK_URL
    assert call.params["secret_token"] == SECRET
    assert call.params["allowed_updates"] == ["message", "callback_query"]
    assert webhook.health() == {"status": "ok", "webhook": "set"}


def test_a_leaflet_question_is_answered_with_the_passage(fake: FakeTelegram, webhook: WebhookClient) -> None:
    chat = new_chat_id()
    assert webhook.post(text_update(chat, "how should I store the cream?")) == (200, {"status": "answered"})
    texts = fake.sent_texts(chat)
    assert texts[0].startswith(STORAGE_START)
    assert 'section "Storage and disposal"' in texts[0]
    assert "not a substitute for your prescriber" in texts[-1]


def test_start_gets_the_greeting_with_an_inline_keyboard(fake: FakeTelegram, webhook: WebhookClient) -> None:
    chat = new_chat_id()
    assert webhook.post(text_update(chat, "/start"))[0] == 200
    [greeting, *_] = fake.calls("sendMessage", chat)
    assert greeting.params["text"].startswith("Hi! I'm an automated assistant")
    rows = greeting.params["reply_markup"]["inline_keyboard"]
    assert len(rows) >= 4
    assert all(1 <= len(b["callback_data"].encode()) <= 64 for row in rows for b in row)
    assert ["Storage and disposal"] in [[b["text"] for b in row] for row in rows]


def test_a_button_press_stops_the_spinner_and_is_answered(fake: FakeTelegram, webhook: WebhookClient) -> None:
    chat = new_chat_id()
    keyboard = [[{"text": "Storage and disposal", "callback_data": "How should I store the cream?"}]]
    update = callback_update(chat, "How should I store the cream?", keyboard)
    assert webhook.post(update) == (200, {"status": "answered"})
    calls = fake.calls()
    answers = [i for i, c in enumerate(calls) if c.method == "answerCallbackQuery"]
    answered = [i for i in answers if calls[i].params["callback_query_id"] == update["callback_query"]["id"]]
    replies = [i for i, c in enumerate(calls) if c.method == "sendMessage" and c.chat_id == str(chat)]
    assert len(answered) == 1
    assert replies and answered[0] < replies[0], "the spinner stops before the answer is sent"
    assert calls[replies[0]].params["text"].startswith(STORAGE_START)


def test_an_edited_message_is_not_answered_again(
    fake: FakeTelegram, webhook: WebhookClient, telegram_bot: RunningBot
) -> None:
    chat = new_chat_id()
    webhook.post(text_update(chat, "how should I store the cream?"))
    sent = len(fake.sent_texts(chat))
    assert webhook.post(edited_update(chat, "how should I store the cream, please?")) == (200, {"status": "ignored"})
    assert len(fake.sent_texts(chat)) == sent
    assert _user_texts(telegram_bot, chat) == ["how should I store the cream?"]


@pytest.mark.parametrize(
    "make",
    [
        sticker_update,
        lambda chat: photo_update(chat, "is this rash normal?"),
        my_chat_member_update,
        lambda chat: channel_post_update(chat, "how should I store the cream?"),
    ],
    ids=["sticker", "photo", "my_chat_member", "channel_post"],
)
def test_updates_without_text_or_button_data_get_a_200_and_are_ignored(
    fake: FakeTelegram, webhook: WebhookClient, telegram_bot: RunningBot, make: Callable[[int], Dict[str, Any]]
) -> None:
    chat = new_chat_id()
    assert webhook.post(make(chat)) == (200, {"status": "ignored"})
    assert fake.calls("sendMessage", chat) == [] and fake.calls("sendMessage", -chat) == []
    assert _user_texts(telegram_bot, chat) == []


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x", SECRET[:-1]])
def test_a_request_without_the_right_secret_is_refused_and_never_reaches_the_bot(
    fake: FakeTelegram, webhook: WebhookClient, telegram_bot: RunningBot, secret: Optional[str]
) -> None:
    chat = new_chat_id()
    status, _ = webhook.post(text_update(chat, "how should I store the cream?"), secret=secret)
    assert status == 403
    assert fake.calls("sendMessage", chat) == []
    assert _user_texts(telegram_bot, chat) == []


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"])
def test_a_body_that_is_not_an_update_gets_a_400(webhook: WebhookClient, body: bytes) -> None:
    assert webhook.post(body)[0] == 400


def test_a_redelivered_update_is_answered_once(
    fake: FakeTelegram, webhook: WebhookClient, telegram_bot: RunningBot
) -> None:
    chat = new_chat_id()
    update = text_update(chat, "how should I store the cream?")
    assert webhook.post(update) == (200, {"status": "answered"})
    sent = fake.sent_texts(chat)
    assert webhook.post(update) == (200, {"status": "duplicate"})
    assert fake.sent_texts(chat) == sent
    assert _user_texts(telegram_bot, chat) == ["how should I store the cream?"]


def test_the_escalation_is_sent_before_anything_else(fake: FakeTelegram, webhook: WebhookClient) -> None:
    chat = new_chat_id()
    webhook.post(text_update(chat, "I have a fevr, and how should I store the cream?"))
    texts = fake.sent_texts(chat)
    assert texts[0].startswith(ESCALATION_START)
    assert any(t.startswith(STORAGE_START) for t in texts[1:])


def test_an_emergency_escalates_first(fake: FakeTelegram, webhook: WebhookClient) -> None:
    chat = new_chat_id()
    webhook.post(text_update(chat, "my little boy swallowed some of the cream"))
    texts = fake.sent_texts(chat)
    assert texts[0].startswith(ESCALATION_START)
    assert "emergency services now" in texts[0]


def test_a_very_long_message_is_cut_and_the_patient_is_told(fake: FakeTelegram, webhook: WebhookClient) -> None:
    chat = new_chat_id()
    webhook.post(text_update(chat, "how do I store the cream? " * 120 + "and I have big blisters"))
    texts = fake.sent_texts(chat)
    assert texts[0].startswith(ESCALATION_START)
    assert "first 2000 characters" in texts[-1]


def test_a_bot_api_failure_while_answering_gets_a_503_and_the_redelivery_is_answered(
    fake: FakeTelegram, webhook: WebhookClient, telegram_bot: RunningBot
) -> None:
    chat = new_chat_id()
    update = text_update(chat, "how should I store the cream?")
    fake.fail()
    try:
        status, _ = webhook.post(update)
    finally:
        fake.up()
    assert status == 503
    assert webhook.post(update) == (200, {"status": "answered"})
    assert fake.sent_texts(chat)[0].startswith(STORAGE_START)
    assert _user_texts(telegram_bot, chat) == ["how should I store the cream?"]


def test_getme_is_called_once(fake: FakeTelegram, webhook: WebhookClient) -> None:
    webhook.post(text_update(new_chat_id(), "hello"))
    webhook.post(text_update(new_chat_id(), "thanks"))
    assert len(fake.calls("getMe")) == 1


def test_patient_text_is_not_logged(webhook: WebhookClient, telegram_bot: RunningBot) -> None:
    marker = f"zebra{uuid.uuid4().hex[:8]}"
    chat = new_chat_id()
    webhook.post(text_update(chat, f"how should I store the cream {marker}?"))
    webhook.post(text_update(chat, f"I have a fever {marker}"))
    webhook.post(callback_update(chat, f"How should I store it {marker}?"))
    webhook.post(text_update(chat, f"/start {marker}"))
    assert marker not in telegram_bot.log()
    assert TOKEN not in telegram_bot.log()


def test_without_a_token_the_telegram_channel_is_off(running_bot: RunningBot) -> None:
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{running_bot.url}/webhooks/telegram/", timeout=30)
    assert error.value.code == 404
    assert "channel bot.channels.telegram.SafeTelegramInput is off; not set: TELEGRAM_" in running_bot.log()
    assert BotClient(running_bot.url).send(f"tg-off-{uuid.uuid4().hex[:8]}", "how should I store the cream?")
