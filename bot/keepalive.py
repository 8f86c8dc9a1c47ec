"""Keep-alive connections from the Rasa server to the action server.

Rasa 3.6's ``EndpointConfig.request`` opens a new ``aiohttp.ClientSession``,
and so a new TCP connection, for every call to the action server
(``async with self.session() as session``), and closes it afterwards. Under
load that set-up and tear-down cost about 7% of the Rasa server's time, plus
the action server's side of each new connection. The fix makes
``EndpointConfig.session`` hand out one shared session per event loop and
endpoint configuration, which ``async with`` does not close; Rasa's own
``request`` is otherwise unchanged.

A kept-alive connection can be closed by the server just as a request is
sent on it (Sanic closes idle connections after 5 seconds). The client
closes idle connections sooner (``KEEPALIVE_SECONDS``), and a request that
meets a connection the server has closed is sent once more on a new one; the
action server's actions only compute replies and store nothing, so a second
call is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any, Dict, Optional, Tuple, Type

import aiohttp
from rasa.core import run as rasa_run
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig

logger = logging.getLogger(__name__)

# Idle connections are closed after this long: shorter than Sanic's own 5 s.
KEEPALIVE_SECONDS = 2.0
RASA_REQUEST = EndpointConfig.request
RASA_CLOSE_RESOURCES = rasa_run.close_resources

_sessions: Dict[Tuple[Any, ...], aiohttp.ClientSession] = {}


class _Shared:
    """``async with`` over a shared session: enter gives the session, exit leaves it open."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        return None


def session(self: EndpointConfig) -> _Shared:
    """``EndpointConfig.session``: the shared session for this event loop, headers and credentials.

    Args:
        self: The endpoint.

    Returns:
        A context manager giving the session, configured as Rasa configures
        its own (headers, basic auth, timeout), that stays open.
    """
    loop = asyncio.get_running_loop()
    auth = self.basic_auth
    key = (id(loop), tuple(sorted(self.headers.items())), auth.get("username"), auth.get("password"))
    shared = _sessions.get(key)
    if shared is None or shared.closed or shared.loop is not loop:
        shared = aiohttp.ClientSession(
            headers=self.headers,
            auth=aiohttp.BasicAuth(auth["username"], auth["password"]) if auth else None,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
        )
        _sessions[key] = shared
    return _Shared(shared)


async def request(self: EndpointConfig, *args: Any, **kwargs: Any) -> Optional[Any]:
    """Rasa's ``EndpointConfig.request``, sent once more if the server had closed the kept-alive connection.

    Args:
        self: The endpoint.
        *args: Rasa's arguments (method, subpath, content type, compress).
        **kwargs: Rasa's keyword arguments (``json``, ``timeout``, ``params``...).

    Returns:
        The JSON response, or None when the response is not JSON.
    """
    try:
        return await RASA_REQUEST(self, *args, **kwargs)
    except aiohttp.ServerDisconnectedError:
        logger.debug("The server closed a kept-alive connection; sending the request again.")
        return await RASA_REQUEST(self, *args, **kwargs)


async def close_sessions() -> None:
    """Close the shared sessions of the running event loop."""
    loop = asyncio.get_running_loop()
    for key, shared in list(_sessions.items()):
        if shared.loop is loop:
            del _sessions[key]
            await shared.close()


async def _close_resources(app: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Rasa's shutdown listener, then the shared sessions."""
    await RASA_CLOSE_RESOURCES(app, loop)
    await close_sessions()


def apply() -> None:
    """Share kept-alive sessions between endpoint requests (idempotent)."""
    EndpointConfig.session = session  # type: ignore[method-assign,assignment]
    EndpointConfig.request = request  # type: ignore[method-assign]
    rasa_run.close_resources = _close_resources
