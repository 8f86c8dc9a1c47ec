"""The widget's server side without servers: origins, session ids, transcripts and the enter_room fix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput

from bot import serve
from bot.channels import origins, transcript, widget
from bot.channels.socketio import LabelledSocketIOOutput, PersistentSocketIOInput, requested_session_id

HEX = "0123456789abcdef0123456789abcdef"


# --- origins -----------------------------------------------------------------


def test_configured_origins_drop_star_and_anything_that_is_not_an_origin() -> None:
    env = {
        "CORS_ORIGINS": "https://www.clinic.example/ * http://127.0.0.1:8080 javascript:alert(1) "
        "https://www.clinic.example https://*.clinic.example null"
    }
    assert origins.configured_origins(env) == ["https://www.clinic.example", "http://127.0.0.1:8080"]
    assert origins.configured_origins({}) == []


def test_an_origin_is_allowed_if_it_is_the_bots_own_or_configured() -> None:
    environ = {"HTTP_HOST": "127.0.0.1:5005", "wsgi.url_scheme": "http"}
    allowed = ["https://www.clinic.example"]
    assert origins.origin_allowed("http://127.0.0.1:5005", environ, allowed)
    assert origins.origin_allowed("https://www.clinic.example", environ, allowed)
    assert origins.origin_allowed(None, environ, allowed)  # not a browser
    assert not origins.origin_allowed("https://evil.example", environ, allowed)
    assert not origins.origin_allowed("https://127.0.0.1:5005", environ, allowed)


@pytest.mark.parametrize("setting", ["*", "https://www.clinic.example *", "* https://www.clinic.example"])
def test_rasa_is_never_started_with_cors_star(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setting: str) -> None:
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CORS_ORIGINS", setting)
    command = serve.rasa_command()
    assert "*" not in command
    if setting == "*":
        assert "--cors" not in command
    else:
        assert command[command.index("--cors") + 1] == "https://www.clinic.example"


# --- session ids and the enter_room fix ---------------------------------------


@pytest.mark.parametrize("data", [None, {}, {"session_id": None}, {"session_id": "patient-1"}, {"session_id": 7}, "x"])
def test_session_ids_the_server_did_not_make_are_replaced(data: Any) -> None:
    new = requested_session_id(data)
    assert re.match(r"^[0-9a-f]{32}$", new)
    assert not isinstance(data, dict) or new != data.get("session_id")


def test_a_well_formed_session_id_is_kept() -> None:
    assert requested_session_id({"session_id": HEX}) == HEX


class _Recorder:
    """Fakes the parts of a python-socketio server that need a real transport."""

    def __init__(self, sio: Any) -> None:
        self.emitted: List[Tuple[str, Any, Dict[str, Any]]] = []
        self.sessions: Dict[str, Dict[str, Any]] = {}

        async def emit(event: str, data: Any = None, **kwargs: Any) -> None:
            self.emitted.append((event, data, kwargs))

        async def save_session(sid: str, session: Dict[str, Any], namespace: Any = None) -> None:
            self.sessions[sid] = session

        async def get_session(sid: str, namespace: Any = None) -> Dict[str, Any]:
            return self.sessions.get(sid, {})

        sio.emit, sio.save_session, sio.get_session = emit, save_session, get_session


async def _channel(channel: SocketIOInput) -> Tuple[Any, _Recorder, List[UserMessage]]:
    received: List[UserMessage] = []

    async def on_new_message(message: UserMessage) -> None:
        received.append(message)

    channel.blueprint(on_new_message)
    sio = channel.sio
    return sio, _Recorder(sio), received


async def test_session_request_joins_the_session_room() -> None:
    sio, recorder, _ = await _channel(PersistentSocketIOInput(session_persistence=True))
    sid = await sio.manager.connect("eio-1", "/")
    await sio._trigger_event("session_request", "/", sid, {"session_id": HEX})
    assert ("session_confirm", HEX, {"room": sid, "namespace": None}) in recorder.emitted
    assert HEX in sio.manager.get_rooms(sid, "/"), "the socket did not join its session's room"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
async def test_rasas_own_channel_does_not_join_the_room_which_is_why_we_subclass() -> None:
    # If this starts failing after a Rasa upgrade, upstream fixed RasaHQ/rasa#13027:
    # bot.channels.socketio can then go back to Rasa's session handling.
    sio, _, _ = await _channel(SocketIOInput(session_persistence=True))
    sid = await sio.manager.connect("eio-1", "/")
    await sio._trigger_event("session_request", "/", sid, {"session_id": HEX})
    assert HEX not in sio.manager.get_rooms(sid, "/")


async def test_messages_are_filed_under_the_sockets_own_session() -> None:
    sio, _, received = await _channel(PersistentSocketIOInput(session_persistence=True))
    sid = await sio.manager.connect("eio-1", "/")
    await sio._trigger_event("user_uttered", "/", sid, {"message": "hi", "session_id": HEX})
    assert received == [], "a message before session_request must be ignored"
    await sio._trigger_event("session_request", "/", sid, {"session_id": HEX})
    await sio._trigger_event("user_uttered", "/", sid, {"message": "hi", "session_id": "f" * 32})
    assert [(m.text, m.sender_id, m.input_channel) for m in received] == [("hi", HEX, "socketio")]


async def test_long_and_empty_messages_are_bounded_like_rest() -> None:
    sio, recorder, received = await _channel(PersistentSocketIOInput(session_persistence=True))
    sid = await sio.manager.connect("eio-1", "/")
    await sio._trigger_event("session_request", "/", sid, {"session_id": HEX})
    await sio._trigger_event("user_uttered", "/", sid, {"message": "how do I store it? " * 500 + "I have big blisters"})
    await sio._trigger_event("user_uttered", "/", sid, {"message": "  "})
    await sio._trigger_event("user_uttered", "/", sid, "not a dict")
    assert len(received) == 1 and len(received[0].text) <= 2000 and "blisters" in received[0].text
    notices = [data["text"] for event, data, _ in recorder.emitted if event == "bot_uttered"]
    assert notices[0].startswith("Your message was very long")
    assert notices[1:] == ["Please type your question about imiquimod cream."] * 2


async def test_only_the_escalation_is_marked() -> None:
    sent: List[Tuple[Any, Dict[str, Any]]] = []

    class _Sio:
        async def emit(self, event: str, data: Any, room: str) -> None:
            sent.append((event, data))

    output = LabelledSocketIOOutput(_Sio(), "bot_uttered")  # type: ignore[arg-type]
    await output.send_response(HEX, {"text": "Stop using the cream.", "utter_action": "utter_contact_provider"})
    await output.send_response(HEX, {"text": "Store it cool.\n\nKeep it closed.", "utter_action": None})
    assert [data for _, data in sent] == [
        {"text": "Stop using the cream.", "escalation": True},
        {"text": "Store it cool."},
        {"text": "Keep it closed."},
    ]


# --- the history's transcript ---------------------------------------------------


def _events() -> List[Dict[str, Any]]:
    return [
        {"event": "action", "name": "action_session_start"},
        {"event": "session_started"},
        {"event": "user", "text": "/greet", "input_channel": "socketio", "parse_data": {"intent": {"name": "greet"}}},
        {
            "event": "bot",
            "text": "Hi!",
            "data": {"buttons": [{"title": "Storage", "payload": "How should I store it?", "type": "postback"}]},
            "metadata": {"utter_action": "utter_greet"},
        },
        {"event": "user", "text": "<img src=x onerror=alert(1)>", "input_channel": "socketio"},
        {"event": "slot", "name": "answer_outcome", "value": "not_found"},
        {"event": "bot", "text": "Stop using the cream now.", "metadata": {"utter_action": "utter_contact_provider"}},
        {"event": "bot", "text": 'Part one.\n\nPart two.\n(Source: patient leaflet, section "Storage")'},
    ]


def test_the_transcript_has_only_texts_in_order() -> None:
    assert transcript.transcript(_events()) == [
        {"sender": "bot", "text": "Hi!", "quick_replies": [{"title": "Storage", "payload": "How should I store it?"}]},
        {"sender": "user", "text": "<img src=x onerror=alert(1)>"},
        {"sender": "bot", "text": "Stop using the cream now.", "escalation": True},
        {"sender": "bot", "text": "Part one."},
        {"sender": "bot", "text": 'Part two.\n(Source: patient leaflet, section "Storage")'},
    ]


def test_only_widget_conversations_have_a_transcript() -> None:
    assert transcript.from_widget(_events())
    rest = [dict(e, input_channel="rest") if e["event"] == "user" else e for e in _events()]
    assert not transcript.from_widget(rest)
    mixed = _events() + [{"event": "user", "text": "hi", "input_channel": "telegram"}]
    assert not transcript.from_widget(mixed)
    assert not transcript.from_widget([{"event": "bot", "text": "Hi!"}])


def test_the_transcript_is_bounded() -> None:
    events = [{"event": "user", "text": f"q{i}", "input_channel": "socketio"} for i in range(500)]
    messages = transcript.transcript(events)
    assert len(messages) == transcript.MAX_MESSAGES and messages[-1]["text"] == "q499"


# --- the files the widget channel serves ----------------------------------------


def test_every_served_file_exists_and_nothing_else_is_served() -> None:
    assert widget.DEMO_PAGE.exists()
    for path, mime_type in widget.FILES.values():
        assert path.exists(), f"{path} is missing (run `make web` for the socket.io bundle)"
        assert path.resolve().is_relative_to(widget.WEB_DIR)
        assert mime_type
    assert "unsafe" not in widget.CONTENT_SECURITY_POLICY and "*" not in widget.CONTENT_SECURITY_POLICY


def test_the_widget_never_builds_html_from_text() -> None:
    source = (widget.WEB_DIR / "widget.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in source, sink
    assert "textContent" in source
