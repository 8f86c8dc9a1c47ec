"""Scaled out: two Rasa workers sharing PostgreSQL and locking conversations in Redis.

The launcher (``BOT_SCALE_OUT=1``, as ``make run-scaled``) starts a local
PostgreSQL and Redis on free loopback ports, then the action server and a Rasa
server with two Sanic workers.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path
from typing import Dict, Iterator, List

import aiohttp
import pytest

from tests.support.botclient import BotClient
from tests.support.fake_telegram import SECRET, FakeTelegram, bot_env, running_fake
from tests.support.servers import RunningBot, free_port, start_bot
from tests.support.telegram_updates import WebhookClient, new_chat_id, text_update

pytestmark = pytest.mark.server

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _scaled_env(postgres_port: int, redis_port: int) -> Dict[str, str]:
    return {
        "BOT_SCALE_OUT": "1",
        "RASA_WORKERS": "2",
        "POSTGRES_PORT": str(postgres_port),
        "REDIS_PORT": str(redis_port),
    }


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTelegram]:
    """A fake Bot API, so the scaled-out bot serves Telegram too."""
    yield from running_fake()


@pytest.fixture(scope="module")
def scaled(fake: FakeTelegram, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    ARTIFACTS.mkdir(exist_ok=True)
    ports = (free_port(), free_port())
    env = {**_scaled_env(*ports), **bot_env(fake)}
    bot = start_bot(tmp_path_factory.mktemp("scaled"), ARTIFACTS / "bot-scaled.log", extra_env=env, timeout=300)
    bot.ports = ports  # type: ignore[attr-defined]
    bot.extra_env = env  # type: ignore[attr-defined]
    yield bot
    assert bot.stop() == 0, "the scaled-out servers did not stop cleanly on SIGTERM"
    assert _rasa_workers(bot) == [], "a Rasa worker outlived the launcher"
    assert subprocess.run(["pgrep", "-f", f"redis-server 127.0.0.1:{ports[1]}"], capture_output=True).returncode == 1


def _sender() -> str:
    return f"scaled-{uuid.uuid4().hex[:10]}"


def _stored_rows(postgres_port: int, sender: str) -> int:
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", port=postgres_port, user="rasa", dbname="rasa")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM events WHERE sender_id = %s", (sender,))
            return int(cursor.fetchone()[0])
    finally:
        connection.close()


def _rasa_workers(bot: RunningBot) -> List[int]:
    pattern = f"rasa run --enable-api.*--port {bot.rasa_port}"
    listing = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(pid) for pid in listing.stdout.split()]


def test_the_launcher_runs_two_rasa_workers_on_postgresql_and_redis(scaled: RunningBot) -> None:
    # Sanic's main process plus one process per worker.
    assert len(_rasa_workers(scaled)) >= 3
    log = scaled.log()
    assert "scaled out: 2 Rasa workers" in log
    assert "InMemoryTrackerStore" not in log


def test_a_conversation_continues_whichever_worker_gets_each_turn(scaled: RunningBot) -> None:
    bot = BotClient(scaled.url)
    sender = _sender()
    # Each request opens a new connection, so the two workers share the turns.
    turns = bot.conversation(
        ["hi", "can I use it on my face?", "what about sunscreen?", "how should I store it?", "thanks"], sender
    )
    assert turns[0].utter_actions[0] == "utter_greet"
    assert turns[1].passage_ids == ["quick-faqs-1"]
    assert turns[2].passage_ids == ["quick-faqs-3"]
    assert turns[3].passage_ids == ["storage-1"]
    # The disclaimer follows the first answer only: every worker saw the whole history.
    assert sum(t.utter_actions.count("utter_disclaimer") for t in turns) == 1
    events = bot.tracker_events(sender)
    assert [e["text"] for e in events if e["event"] == "user"] == [
        "hi",
        "can I use it on my face?",
        "what about sunscreen?",
        "how should I store it?",
        "thanks",
    ]
    assert _stored_rows(scaled.ports[0], sender) >= len(events)  # type: ignore[attr-defined]


def test_concurrent_messages_in_one_conversation_are_serialised_not_lost(scaled: RunningBot) -> None:
    sender = _sender()
    texts = [f"how should I store it? ({i})" for i in range(8)]

    async def send_all() -> List[int]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:

            async def one(text: str) -> int:
                async with session.post(
                    f"{scaled.url}/webhooks/rest/webhook", json={"sender": sender, "message": text}
                ) as response:
                    await response.read()
                    return response.status

            return await asyncio.gather(*(one(t) for t in texts))

    statuses = asyncio.run(send_all())
    assert statuses == [200] * len(texts)
    events = BotClient(scaled.url).tracker_events(sender)
    users = [i for i, e in enumerate(events) if e["event"] == "user"]
    assert sorted(events[i]["text"] for i in users) == sorted(texts)
    # Locked turns do not interleave: every message is followed by its own answer before the next one.
    for start, end in zip(users, users[1:] + [len(events)], strict=True):
        assert any(e["event"] == "bot" and (e.get("metadata") or {}).get("passage_id") for e in events[start:end])
    ids = [json.dumps(e, sort_keys=True) for e in events]
    assert len(ids) == len(set(ids)), "an event was stored twice"


def test_red_flags_escalate_first_when_scaled_out(scaled: RunningBot) -> None:
    bot = BotClient(scaled.url)
    for text in ["I have a fever and chills", "my face is swelling up and I cant breathe", "the blisters are huge"]:
        turn = bot.turn(_sender(), text)
        assert turn.escalated_first, text


def test_conversations_survive_a_restart_of_the_scaled_out_bot(scaled: RunningBot) -> None:
    bot = BotClient(scaled.url)
    sender = _sender()
    bot.turn(sender, "how should I store it?")
    before = bot.tracker_events(sender)
    assert scaled.stop() == 0
    restarted = start_bot(
        scaled.data_dir,
        scaled.log_path,
        rasa_port=scaled.rasa_port,
        extra_env=scaled.extra_env,  # type: ignore[attr-defined]
        timeout=300,
    )
    scaled.process = restarted.process
    scaled.action_port = restarted.action_port
    after = BotClient(restarted.url).tracker_events(sender)
    assert [e.get("text") for e in after if e["event"] == "user"] == ["how should I store it?"]
    assert len(after) == len(before)
    follow = BotClient(restarted.url).turn(sender, "and after opening?")
    assert follow.replies


def test_a_telegram_update_redelivered_to_any_worker_is_answered_once(scaled: RunningBot, fake: FakeTelegram) -> None:
    import redis

    fake.wait_for("setWebhook", timeout=60)
    webhook = WebhookClient(scaled.url, SECRET)
    chat = new_chat_id()
    update = text_update(chat, "how should I store the cream?")
    # Each post is a new connection, so the two workers share the redeliveries.
    statuses = [webhook.post(update) for _ in range(8)]
    assert statuses.count((200, {"status": "answered"})) == 1, statuses
    assert statuses.count((200, {"status": "duplicate"})) == 7, statuses
    texts = fake.sent_texts(chat)
    assert sum(t.startswith("Store imiquimod at room temperature") for t in texts) == 1, texts
    # The record is the workers' shared Redis, not each worker's memory.
    key = f"imiquimodfaq:telegram:update:{update['update_id']}"
    assert redis.Redis(port=scaled.ports[1], db=1).exists(key)  # type: ignore[attr-defined]
