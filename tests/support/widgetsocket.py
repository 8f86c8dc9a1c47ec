"""A socket.io client that talks to the bot the way the website widget does.

It uses python-socketio's ``AsyncClient`` over HTTP long-polling: its
WebSocket transport needs aiohttp 3.10+, and Rasa 3.6 pins aiohttp 3.9.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Dict, List, Optional

import socketio


class WidgetSocket:
    """One browser tab's socket: ``session_request``, ``user_uttered`` and ``bot_uttered``."""

    def __init__(self, base_url: str, headers: Optional[Dict[str, str]] = None) -> None:
        """Prepare a client.

        Args:
            base_url: The Rasa server's base URL.
            headers: Extra HTTP headers for the connection, e.g. ``Origin``.
        """
        self.base_url = base_url
        self.headers = headers or {}
        self.client = socketio.AsyncClient(reconnection=False)
        self.session_id: Optional[str] = None
        self._replies: asyncio.Queue[Dict[str, Any]] = asyncio.Queue()
        self._confirms: asyncio.Queue[str] = asyncio.Queue()
        self.client.on("bot_uttered", self._replies.put_nowait)
        self.client.on("session_confirm", self._confirms.put_nowait)

    async def connect(self) -> WidgetSocket:
        """Open the connection (raises ``socketio.exceptions.ConnectionError`` when refused)."""
        await self.client.connect(
            self.base_url, headers=self.headers, transports=["polling"], socketio_path="/socket.io", wait_timeout=10
        )
        return self

    async def close(self) -> None:
        """Drop the connection without waiting for the pending long-poll (up to 25 s) to end."""
        engine = self.client.eio
        await engine.disconnect(abort=True)
        for task in (engine.read_loop_task, engine.write_loop_task):
            if task and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def request_session(self, session_id: Optional[str] = None, timeout: float = 10.0) -> str:
        """Ask for a session, as the widget does on connect, and return the confirmed id."""
        await self.client.emit("session_request", {"session_id": session_id})
        self.session_id = await asyncio.wait_for(self._confirms.get(), timeout)
        return self.session_id

    async def say(self, text: str, session_id: Optional[str] = None) -> None:
        """Send a patient message, claiming ``session_id`` (this socket's session by default)."""
        await self.client.emit("user_uttered", {"message": text, "session_id": session_id or self.session_id})

    async def replies(self, count: int, timeout: float = 45.0) -> List[Dict[str, Any]]:
        """Wait for the next ``count`` bot messages."""
        return [await asyncio.wait_for(self._replies.get(), timeout) for _ in range(count)]

    async def quiet_for(self, seconds: float) -> List[Dict[str, Any]]:
        """Everything that arrives within ``seconds`` (expected: nothing)."""
        await asyncio.sleep(seconds)
        arrived = []
        while not self._replies.empty():
            arrived.append(self._replies.get_nowait())
        return arrived
