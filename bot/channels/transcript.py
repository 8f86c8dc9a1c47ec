"""Turn a widget conversation's tracker events into the texts the widget shows again on reload.

Only the patient's and the bot's words leave the server: no intents, slots,
scores or metadata. Conversations that did not come through the socket.io
channel are never returned, so the history route cannot read a REST or
Telegram conversation.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List

WIDGET_CHANNEL = "socketio"
ESCALATION_RESPONSE = "utter_contact_provider"
MAX_MESSAGES = 200


def from_widget(events: List[Dict[str, Any]]) -> bool:
    """Whether every patient message in the events came through the socket.io channel.

    Args:
        events: Tracker events, as dictionaries.

    Returns:
        True when there is at least one user message and all are from the widget.
    """
    channels = [e.get("input_channel") for e in events if e.get("event") == "user"]
    return bool(channels) and all(c == WIDGET_CHANNEL for c in channels)


def _bot_messages(event: Dict[str, Any]) -> List[Dict[str, Any]]:
    """A bot event as the socket.io channel sent it: split on blank lines, buttons on the last part."""
    text = (event.get("text") or "").strip()
    data = event.get("data") or {}
    buttons = data.get("buttons") or data.get("quick_replies") or []
    escalation = (event.get("metadata") or {}).get("utter_action") == ESCALATION_RESPONSE
    parts = [p for p in text.split("\n\n") if p] if text else []
    messages: List[Dict[str, Any]] = [{"sender": "bot", "text": p} for p in parts]
    for message in messages:
        if escalation:
            message["escalation"] = True
    if buttons and messages:
        messages[-1]["quick_replies"] = [
            {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))} for b in buttons
        ]
    return messages


def transcript(events: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The conversation's messages, oldest first, as the widget renders them.

    Patient messages that are intent payloads (``/greet``, sent when the
    widget opens) are left out, as the widget never showed them.

    Args:
        events: Tracker events, as dictionaries.

    Returns:
        Up to ``MAX_MESSAGES`` of the latest messages: ``{"sender": "user"|"bot",
        "text": str}``, plus ``escalation`` and ``quick_replies`` on bot messages
        that had them.
    """
    messages: List[Dict[str, Any]] = []
    for event in events:
        if event.get("event") == "user":
            text = event.get("text") or ""
            if text and not text.startswith("/"):
                messages.append({"sender": "user", "text": text})
        elif event.get("event") == "bot":
            messages.extend(_bot_messages(event))
    return messages[-MAX_MESSAGES:]
