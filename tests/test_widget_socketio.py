"""The widget's socket.io channel at the protocol level, against the real servers.

Rasa 3.6's own channel never awaits ``sio.enter_room``, so with
``session_persistence: true`` no reply ever arrives; these tests hold
``bot.channels.socketio.PersistentSocketIOInput`` to working sessions, and
check the read-only history route the widget uses after a reload.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, AsyncIterator, Dict, List

import pytest
import socketio

from tests.support.botclient import BotClient
from tests.support.servers import RunningBot
from tests.support.widgetsocket import WidgetSocket

pytestmark = pytest.mark.server

ESCALATION_START = "Stop using the cream and contact your provider"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
async def tab(running_bot: RunningBot) -> AsyncIterator[WidgetSocket]:
    socket = await WidgetSocket(running_bot.url).connect()
    yield socket
    await socket.close()


def _history(bot: RunningBot, session_id: str) -> Dict[str, Any]:
    with urllib.request.urlopen(f"{bot.url}/webhooks/widget/history/{session_id}", timeout=30) as response:
        return json.loads(response.read())


def _history_with(bot: RunningBot, session_id: str, text: str, timeout: float = 10.0) -> List[Dict[str, Any]]:
    """The history once it holds ``text``: Rasa sends replies before it saves the turn."""
    deadline = time.monotonic() + timeout
    while True:
        messages = _history(bot, session_id)["messages"]
        if any(m["text"] == text for m in messages) or time.monotonic() > deadline:
            return messages
        time.sleep(0.2)


async def test_a_persistent_session_gets_its_replies(tab: WidgetSocket) -> None:
    session_id = await tab.request_session()
    assert HEX32.match(session_id)
    await tab.say("how should I store the cream?")
    answer, disclaimer = await tab.replies(2)
    assert answer["text"].startswith("Store imiquimod at room temperature")
    assert answer["text"].endswith('(Source: patient leaflet, section "Storage and disposal")')
    assert "not a substitute for your prescriber" in disclaimer["text"]


async def test_the_greeting_payload_gets_topic_quick_replies(tab: WidgetSocket) -> None:
    await tab.request_session()
    await tab.say("/greet")
    greeting = (await tab.replies(1))[0]
    assert greeting["text"].startswith("Hi! I'm an automated assistant")
    titles = [q["title"] for q in greeting["quick_replies"]]
    assert len(titles) >= 4 and "Storage and disposal" in titles
    assert all(q["payload"] for q in greeting["quick_replies"])


async def test_a_new_socket_rejoins_the_same_conversation(running_bot: RunningBot, tab: WidgetSocket) -> None:
    session_id = await tab.request_session()
    await tab.say("how should I store the cream?")
    await tab.replies(2)
    await tab.close()
    reloaded = await WidgetSocket(running_bot.url).connect()
    try:
        assert await reloaded.request_session(session_id) == session_id
        await reloaded.say("and how do I get rid of old tubes?")
        (follow_up,) = await reloaded.replies(1)
    finally:
        await reloaded.close()
    assert 'section "Storage and disposal"' in follow_up["text"], "the follow-up lost its context"
    users = [e["text"] for e in BotClient(running_bot.url).tracker_events(session_id) if e.get("event") == "user"]
    assert users == ["how should I store the cream?", "and how do I get rid of old tubes?"]


async def test_the_escalation_is_marked_for_the_widget(tab: WidgetSocket) -> None:
    await tab.request_session()
    await tab.say("I have a high fever")
    first = (await tab.replies(1))[0]
    assert first["text"].startswith(ESCALATION_START)
    assert first["escalation"] is True


async def test_session_ids_the_server_did_not_make_are_replaced(tab: WidgetSocket) -> None:
    for requested in ("patient-1", "../../etc", "A" * 32, 42):
        confirmed = await tab.request_session(requested)  # type: ignore[arg-type]
        assert HEX32.match(confirmed) and confirmed != requested


async def test_a_message_is_filed_under_its_own_sockets_session(running_bot: RunningBot, tab: WidgetSocket) -> None:
    victim = await WidgetSocket(running_bot.url).connect()
    try:
        victim_session = await victim.request_session()
        own_session = await tab.request_session()
        await tab.say("how should I store the cream?", session_id=victim_session)
        assert len(await tab.replies(2)) == 2
        assert await victim.quiet_for(1.0) == []
    finally:
        await victim.close()
    client = BotClient(running_bot.url)
    assert [e for e in client.tracker_events(victim_session) if e.get("event") == "user"] == []
    assert [e["text"] for e in client.tracker_events(own_session) if e.get("event") == "user"] == [
        "how should I store the cream?"
    ]


async def test_a_message_before_session_request_is_ignored(tab: WidgetSocket) -> None:
    await tab.say("how should I store the cream?", session_id=uuid.uuid4().hex)
    assert await tab.quiet_for(3.0) == []


async def test_an_empty_message_gets_a_prompt(tab: WidgetSocket) -> None:
    await tab.request_session()
    await tab.say("   ")
    assert (await tab.replies(1))[0]["text"].startswith("Please type your question")


async def test_a_foreign_origin_is_refused(running_bot: RunningBot) -> None:
    foreign = WidgetSocket(running_bot.url, headers={"Origin": "https://evil.example"})
    with pytest.raises(socketio.exceptions.ConnectionError):
        await foreign.connect()
    same_origin = await WidgetSocket(running_bot.url, headers={"Origin": running_bot.url}).connect()
    await same_origin.close()


async def test_history_returns_only_the_texts_of_that_session(running_bot: RunningBot, tab: WidgetSocket) -> None:
    session_id = await tab.request_session()
    await tab.say("/greet")
    await tab.replies(2)
    await tab.say("I have a high fever")
    await tab.replies(1)
    messages = _history_with(running_bot, session_id, "I have a high fever")
    assert messages[0]["text"].startswith("Hi! I'm an automated assistant") and messages[0]["quick_replies"]
    assert {"sender": "user", "text": "I have a high fever"} in messages
    assert "/greet" not in [m["text"] for m in messages]
    assert any(m.get("escalation") and m["text"].startswith(ESCALATION_START) for m in messages)
    assert all(set(m) <= {"sender", "text", "escalation", "quick_replies"} for m in messages)


def test_history_never_shows_other_channels_conversations(running_bot: RunningBot, bot: BotClient) -> None:
    rest_sender = uuid.uuid4().hex
    bot.send(rest_sender, "how should I store the cream?")
    assert _history(running_bot, rest_sender) == {"messages": []}
    assert _history(running_bot, uuid.uuid4().hex) == {"messages": []}
    with pytest.raises(urllib.error.HTTPError) as error:
        _history(running_bot, "patient-1")
    assert error.value.code == 404
