"""Startup with the Telegram Bot API unreachable: everything else serves, and Telegram recovers."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.support.botclient import BotClient
from tests.support.fake_telegram import SECRET, TOKEN, USERNAME, FakeTelegram, bot_env
from tests.support.servers import RunningBot, start_bot
from tests.support.telegram_updates import WebhookClient, new_chat_id, text_update

pytestmark = pytest.mark.server

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
STORAGE_START = "Store imiquimod at room temperature away from heat and light."


@pytest.fixture(scope="module")
def fake_down() -> Iterator[FakeTelegram]:
    """The fake Bot API, not listening: every connection is refused."""
    fake = FakeTelegram(TOKEN, USERNAME)
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def offline_bot(fake_down: FakeTelegram, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    """Both servers, started while the Bot API is unreachable."""
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "telegram-offline-bot.log"
    bot = start_bot(tmp_path_factory.mktemp("telegram-offline"), log, extra_env=bot_env(fake_down))
    yield bot
    assert bot.stop() == 0, "the servers did not stop cleanly on SIGTERM"


def _wait(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_the_bot_serves_without_the_bot_api_and_telegram_recovers(
    fake_down: FakeTelegram, offline_bot: RunningBot
) -> None:
    # The server started (start_bot waits for "serve: ready") with the Bot API refusing connections.
    rest = BotClient(offline_bot.url)
    assert rest.turn(f"offline-{uuid.uuid4().hex[:8]}", "how should I store the cream?").passage_ids == ["storage-1"]

    # The failure is logged clearly, without the token, and retried.
    assert _wait(lambda: offline_bot.log().count("Telegram: could not set the webhook") >= 2)
    assert "The other channels keep serving" in offline_bot.log()
    assert TOKEN not in offline_bot.log() and SECRET not in offline_bot.log()
    webhook = WebhookClient(offline_bot.url, SECRET)
    assert webhook.health()["webhook"] == "pending"

    # An update that cannot be answered now gets a 503, so Telegram delivers it again later.
    chat = new_chat_id()
    update = text_update(chat, "how should I store the cream?")
    assert webhook.post(update)[0] == 503

    # The Bot API comes back: the webhook is set in the background, and the redelivered update is answered.
    fake_down.up()
    [call] = fake_down.wait_for("setWebhook", timeout=30)
    assert call.params["secret_token"] == SECRET
    assert _wait(lambda: webhook.health()["webhook"] == "set")
    assert webhook.post(update) == (200, {"status": "answered"})
    assert fake_down.sent_texts(chat)[0].startswith(STORAGE_START)
