"""The REST channel with input validation: bad input gets a clear 4xx, never a 5xx."""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, List

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import patches
from bot.channels.guard import check_text, valid_sender

logger = logging.getLogger(__name__)
patches.apply()


def _error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)


class SafeRestInput(RestInput):
    """``POST /webhooks/rest/webhook`` with ``{"sender": str, "message": str}``.

    Differences from Rasa's ``RestInput``:

    - malformed JSON, a missing or invalid ``sender`` or a non-string
      ``message`` get a 400 with a JSON error, not an empty 200 or a 500;
    - an empty message gets a short prompt and is not stored;
    - an over-long message is cut (see ``bot.channels.guard``) and the reply
      says so;
    - the channel name cannot be set by the client;
    - an internal failure answers 503 with a JSON error.
    """

    @classmethod
    def name(cls) -> str:
        """Keep Rasa's route, /webhooks/rest/."""
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Build the channel's routes."""
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except Exception:  # noqa: BLE001 - any parse failure is the client's
                return _error(400, 'The body must be JSON: {"sender": "...", "message": "..."}.')
            if not isinstance(body, dict):
                return _error(400, "The body must be a JSON object.")
            sender = body.get("sender")
            if not valid_sender(sender):
                return _error(400, "'sender' must be a string of 1-128 letters, digits or _.:@+-")
            if "message" not in body or not (body["message"] is None or isinstance(body["message"], str)):
                return _error(400, "'message' must be a string.")
            checked = check_text(body.get("message"))
            replies: List[Dict[str, Any]] = []
            if checked.text is not None:
                collector = CollectingOutputChannel()
                metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
                try:
                    await on_new_message(
                        UserMessage(checked.text, collector, sender, input_channel=self.name(), metadata=metadata)
                    )
                except Exception:  # noqa: BLE001 - report, never crash the request
                    logger.exception("REST message could not be handled")
                    return _error(503, "The assistant could not answer just now. Please try again.")
                replies = collector.messages
            if checked.notice:
                replies.append({"recipient_id": sender, "text": checked.notice})
            return response.json(replies)

        return webhook


__all__ = ["SafeRestInput"]
