"""A small client for the running bot: the REST channel plus the HTTP API.

Each turn is sent over REST, then the tracker is read to see which responses
and passages the bot chose (``utter_action`` and ``passage_id`` metadata).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class Turn:
    """What the bot did with one user message.

    Attributes:
        replies: The REST channel's reply messages, in order.
        utter_actions: ``utter_action`` of each bot event, ``None`` for free text.
        passage_ids: Passages sent as answers, in order.
        intent: The intent the bot acted on.
        red_flag: The red-flag screen's verdict recorded with the message.
    """

    replies: List[Dict[str, Any]] = field(default_factory=list)
    utter_actions: List[Optional[str]] = field(default_factory=list)
    passage_ids: List[str] = field(default_factory=list)
    intent: Optional[str] = None
    red_flag: Dict[str, Any] = field(default_factory=dict)

    @property
    def escalated(self) -> bool:
        """Whether the escalation was sent."""
        return "utter_contact_provider" in self.utter_actions

    @property
    def escalated_first(self) -> bool:
        """Whether the escalation was the first reply of the turn."""
        return bool(self.utter_actions) and self.utter_actions[0] == "utter_contact_provider"

    @property
    def declined(self) -> bool:
        """Whether the bot declined (no answer, or off-topic)."""
        return any(a in ("utter_no_answer", "utter_out_of_scope") for a in self.utter_actions)

    @property
    def texts(self) -> List[str]:
        """The reply texts."""
        return [r.get("text", "") for r in self.replies]


class BotClient:
    """Talks to a running Rasa server."""

    def __init__(self, base_url: str = "http://127.0.0.1:5005", timeout: float = 30.0) -> None:
        """Point the client at a server.

        Args:
            base_url: The Rasa server's base URL.
            timeout: Seconds per HTTP request.
        """
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.base_url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read() or b"null")

    def send(self, sender: str, text: str) -> List[Dict[str, Any]]:
        """Send one message over REST.

        Args:
            sender: The conversation id.
            text: The message.

        Returns:
            The bot's reply messages.
        """
        return self._request("POST", "/webhooks/rest/webhook", {"sender": sender, "message": text})

    def tracker_events(self, sender: str) -> List[Dict[str, Any]]:
        """Return the conversation's events from the HTTP API."""
        return self._request("GET", f"/conversations/{sender}/tracker")["events"]

    def turn(self, sender: str, text: str) -> Turn:
        """Send a message and describe what the bot did with it.

        Args:
            sender: The conversation id.
            text: The message.

        Returns:
            The turn, read back from the tracker.
        """
        replies = self.send(sender, text)
        events = self.tracker_events(sender)
        last_user = max(i for i, e in enumerate(events) if e.get("event") == "user")
        user = events[last_user]
        turn = Turn(
            replies=replies,
            intent=(user.get("parse_data") or {}).get("intent", {}).get("name"),
            red_flag=(user.get("parse_data") or {}).get("red_flag") or {},
        )
        for event in events[last_user + 1 :]:
            if event.get("event") != "bot":
                continue
            metadata = event.get("metadata") or {}
            turn.utter_actions.append(metadata.get("utter_action"))
            if metadata.get("passage_id"):
                turn.passage_ids.append(metadata["passage_id"])
        return turn

    def conversation(self, texts: List[str], sender: Optional[str] = None) -> List[Turn]:
        """Play several messages in one new conversation.

        Args:
            texts: The messages, in order.
            sender: The conversation id; a fresh one by default.

        Returns:
            One turn per message.
        """
        sender = sender or f"test-{uuid.uuid4().hex[:12]}"
        return [self.turn(sender, t) for t in texts]

    def healthy(self) -> bool:
        """Whether the server answers its status route."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/", timeout=self.timeout) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False
