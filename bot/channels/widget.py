"""Serve the website chat widget from the bot's own origin: ``/webhooks/widget/``.

Routes (prefix ``/webhooks/widget``):

- ``GET /``: a demo page with the widget, under a Content-Security-Policy
  that allows nothing but the bot's own origin;
- ``GET /widget.js``, ``GET /widget.css``: the widget (``web/``), and the demo page's
  ``demo.css`` and ``favicon.svg``;
- ``GET /vendor/socket.io.min.js``: socket.io-client's browser bundle, from
  ``web/node_modules`` (installed by ``make`` from ``web/package-lock.json``);
- ``GET /history/<session_id>``: the patient's and the bot's texts of one
  widget conversation, so a reloaded page can show it again. Nothing else of
  the tracker is returned, and only for conversations held over socket.io.

The widget itself talks to the bot over ``bot.channels.socketio``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Coroutine, Dict, Tuple

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.socketio import SESSION_ID
from bot.channels.transcript import from_widget, transcript

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
SOCKETIO_BUNDLE = WEB_DIR / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
# The only files served: URL path -> (file, MIME type). Nothing else under web/ is reachable.
FILES: Dict[str, Tuple[Path, str]] = {
    "widget.js": (WEB_DIR / "widget.js", "text/javascript; charset=utf-8"),
    "widget.css": (WEB_DIR / "widget.css", "text/css; charset=utf-8"),
    "demo.css": (WEB_DIR / "demo.css", "text/css; charset=utf-8"),
    "favicon.svg": (WEB_DIR / "favicon.svg", "image/svg+xml"),
    "vendor/socket.io.min.js": (SOCKETIO_BUNDLE, "text/javascript; charset=utf-8"),
}
DEMO_PAGE = WEB_DIR / "index.html"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class WidgetPage(InputChannel):
    """The widget's files, its demo page and its read-only history route.

    Add ``bot.channels.widget.WidgetPage:`` to ``credentials.yml`` beside
    ``bot.channels.socketio.PersistentSocketIOInput`` (with
    ``session_persistence: true``).
    """

    @classmethod
    def name(cls) -> str:
        """Routes live under /webhooks/widget/."""
        return "widget"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Build the routes; this channel receives no messages itself."""
        if not SOCKETIO_BUNDLE.exists():
            logger.warning("widget: %s is missing; run `make web` (npm ci in web/)", SOCKETIO_BUNDLE)
        pages = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @pages.route("/", methods=["GET"])
        async def demo(_: Request) -> HTTPResponse:
            headers = dict(COMMON_HEADERS, **{"Content-Security-Policy": CONTENT_SECURITY_POLICY})
            return await response.file(DEMO_PAGE, headers=headers, mime_type="text/html; charset=utf-8")

        for url_path, (path, mime_type) in FILES.items():
            pages.add_route(_file_handler(path, mime_type), f"/{url_path}", methods=["GET"], name=_route_name(url_path))

        @pages.route("/history/<session_id:str>", methods=["GET"])
        async def history(request: Request, session_id: str) -> HTTPResponse:
            headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
            if not SESSION_ID.match(session_id):
                return response.json({"error": "unknown session"}, status=404, headers=headers)
            tracker = await request.app.ctx.agent.tracker_store.retrieve(session_id)
            events = [e.as_dict() for e in tracker.events] if tracker else []
            messages = transcript(events) if from_widget(events) else []
            return response.json({"messages": messages}, headers=headers)

        return pages


def _file_handler(path: Path, mime_type: str) -> Callable[[Request], Coroutine[Any, Any, HTTPResponse]]:
    """A route handler that serves one file, or a 404 when it is missing."""

    async def serve_file(_: Request) -> HTTPResponse:
        if not path.exists():
            return response.json({"error": "not found"}, status=404)
        return await response.file(path, headers=dict(COMMON_HEADERS), mime_type=mime_type)

    return serve_file


def _route_name(url_path: str) -> str:
    """A Sanic route name for a file's URL path."""
    return "widget_file_" + "".join(c if c.isalnum() else "_" for c in url_path)


__all__ = ["WidgetPage"]
