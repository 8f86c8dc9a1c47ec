"""The socket.io channel the website widget talks to, with persistent sessions that work.

Rasa 3.6's ``SocketIOInput`` calls ``sio.enter_room(...)`` without ``await``.
Since python-socketio 5.10 that is a coroutine, so with
``session_persistence: true`` the socket never joins its session's room and
no bot reply reaches the browser (RasaHQ/rasa#13027). This subclass handles
``session_request`` itself and awaits ``enter_room``. It also:

- accepts only session ids the server could have made (32 hex characters)
  and makes a new one otherwise, so a socket cannot join another channel's
  conversation (a REST sender id, say);
- binds the session to the socket, so a message is always filed under the
  session its socket asked for, never under a ``session_id`` field it claims;
- applies the same input checks as the REST channel (``bot.channels.guard``);
- checks every connection's ``Origin`` against ``CORS_ORIGINS`` (plus the
  bot's own origin), where Rasa turns python-engineio's check off;
- marks the escalation message (``utter_contact_provider``) with
  ``"escalation": true`` so the widget can show it as an alert.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence

import engineio
import socketio
from rasa.core.channels.channel import UserMessage, decode_bearer_token
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.guard import check_text
from bot.channels.origins import configured_origins, origin_allowed
from bot.channels.transcript import ESCALATION_RESPONSE

logger = logging.getLogger(__name__)

SESSION_ID = re.compile(r"^[0-9a-f]{32}$")


def new_session_id() -> str:
    """A fresh, unguessable session id (32 hex characters)."""
    return uuid.uuid4().hex


def requested_session_id(data: Any) -> str:
    """The session a ``session_request`` asks for, or a new one.

    Args:
        data: The event's payload, ideally ``{"session_id": "<32 hex>"}``.

    Returns:
        The requested id when it has the server's format, else a new id.
    """
    requested = data.get("session_id") if isinstance(data, dict) else None
    if isinstance(requested, str) and SESSION_ID.match(requested):
        return requested
    return new_session_id()


class _OriginCheckedEngineIO(engineio.AsyncServer):
    """Engine.IO server that rejects unlisted origins but adds no CORS headers.

    The headers come from Sanic-CORS (``rasa run --cors``), configured from the
    same list; adding them here too would send each header twice, which
    browsers refuse.
    """

    def _cors_headers(self, environ: Mapping[str, Any]) -> List[Any]:
        return []


class _OriginCheckedServer(socketio.AsyncServer):
    """Socket.IO server on :class:`_OriginCheckedEngineIO`."""

    def _engineio_server_class(self) -> type:
        return _OriginCheckedEngineIO


class LabelledSocketIOOutput(SocketIOOutput):
    """Rasa's socket.io output, plus ``"escalation": true`` on the escalation message."""

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Send text, split on blank lines as Rasa does, marking the escalation.

        Args:
            recipient_id: The session id (the room the widget joined).
            text: The message.
            **kwargs: The rest of the bot message, including ``utter_action``.
        """
        extra = {"escalation": True} if kwargs.get("utter_action") == ESCALATION_RESPONSE else {}
        for part in text.strip().split("\n\n"):
            await self._send_message(recipient_id, {"text": part, **extra})


class PersistentSocketIOInput(SocketIOInput):
    """Rasa's socket.io channel with working session persistence (see the module docstring).

    ``credentials.yml`` settings are Rasa's: ``user_message_evt``,
    ``bot_message_evt``, ``namespace``, ``session_persistence``,
    ``socketio_path``, ``jwt_key``, ``jwt_method``, ``metadata_key``.
    """

    allowed_origins: Sequence[str] = ()

    @classmethod
    def name(cls) -> str:
        """Keep Rasa's channel name and route prefix, /webhooks/socketio/."""
        return "socketio"

    def get_output_channel(self) -> Optional[LabelledSocketIOOutput]:
        """The output channel, for messages Rasa sends outside a reply."""
        if self.sio is None:
            return None
        return LabelledSocketIOOutput(self.sio, self.bot_message_evt)

    def _check_origin(self, origin: Optional[str], environ: Mapping[str, Any]) -> bool:
        return origin_allowed(origin, environ, self.allowed_origins)

    def _token_accepted(self, auth: Optional[Dict[str, Any]]) -> bool:
        if not self.jwt_key:
            return True
        token = auth.get("token") if isinstance(auth, dict) else None
        return bool(token and decode_bearer_token(token, self.jwt_key, self.jwt_algorithm))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Build the socket.io server and its HTTP routes."""
        self.allowed_origins = configured_origins()  # read once, at startup, like `rasa run --cors`
        sio = _OriginCheckedServer(async_mode="sanic", cors_allowed_origins=self._check_origin)
        self.sio = sio
        blueprint = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        namespace = self.namespace

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=namespace)
        async def connect(sid: str, environ: Dict[str, Any], auth: Optional[Dict[str, Any]] = None) -> bool:
            return self._token_accepted(auth)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: Any = None) -> None:
            session_id = requested_session_id(data) if self.session_persistence else sid
            if self.session_persistence:
                await sio.enter_room(sid, session_id, namespace=namespace)
            await sio.save_session(sid, {"session_id": session_id}, namespace=namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: str, data: Any = None) -> None:
            session = await sio.get_session(sid, namespace=namespace)
            if self.session_persistence and not session.get("session_id"):
                logger.warning("socket.io: a message arrived before session_request; ignored")
                return
            sender_id = session.get("session_id") or sid
            data = data if isinstance(data, dict) else {}
            output = LabelledSocketIOOutput(sio, self.bot_message_evt)
            checked = check_text(data.get("message"))
            if checked.text is not None:
                await on_new_message(
                    UserMessage(
                        checked.text,
                        output,
                        sender_id,
                        input_channel=self.name(),
                        metadata=_metadata(data.get(self.metadata_key)),
                    )
                )
            if checked.notice:
                await output.send_text_message(sender_id, checked.notice)

        return blueprint


def _metadata(raw: Any) -> Optional[Dict[str, Any]]:
    """Message metadata: a dict, or a JSON object in a string; anything else is dropped."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    return raw if isinstance(raw, dict) else None


__all__ = ["LabelledSocketIOOutput", "PersistentSocketIOInput"]
