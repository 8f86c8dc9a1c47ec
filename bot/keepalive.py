"""Keep-alive connections from the Rasa server to the action server.

Rasa 3.6's ``EndpointConfig.request`` opens a new ``aiohttp.ClientSession``,
and so a new TCP connection, for every call to the action server, and closes
it afterwards. Under load that set-up and tear-down cost about 7% of the Rasa
server's time, plus the action server's side of each new connection. The fix
sends the same requests (same URL, headers, parameters, timeout, TLS
context and error handling) through one session per event loop that keeps
connections open.

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
import os
import ssl
from typing import Any, Dict, Optional, Tuple

import aiohttp
from aiohttp.client_exceptions import ContentTypeError
from rasa.core import run as rasa_run
from rasa.shared.exceptions import FileNotFoundException
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, ClientResponseError, EndpointConfig, concat_url

logger = logging.getLogger(__name__)

# Idle connections are closed after this long: shorter than Sanic's own 5 s.
KEEPALIVE_SECONDS = 2.0
RASA_REQUEST = EndpointConfig.request
RASA_CLOSE_RESOURCES = rasa_run.close_resources

_sessions: Dict[Tuple[Any, ...], aiohttp.ClientSession] = {}


def _session(endpoint: EndpointConfig) -> aiohttp.ClientSession:
    """The shared session for this event loop and the endpoint's credentials."""
    loop = asyncio.get_running_loop()
    auth = endpoint.basic_auth
    key = (id(loop), auth.get("username"), auth.get("password"))
    session = _sessions.get(key)
    if session is None or session.closed or session.loop is not loop:
        session = aiohttp.ClientSession(
            auth=aiohttp.BasicAuth(auth["username"], auth["password"]) if auth else None,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
        )
        _sessions[key] = session
    return session


async def request(
    self: EndpointConfig,
    method: str = "post",
    subpath: Optional[str] = None,
    content_type: Optional[str] = "application/json",
    compress: bool = False,
    **kwargs: Any,
) -> Optional[Any]:
    """``EndpointConfig.request`` on a kept-alive connection.

    Args:
        self: The endpoint.
        method: The HTTP method.
        subpath: Added to the endpoint's URL.
        content_type: The request's content type.
        compress: Whether to compress the body.
        **kwargs: Passed to ``aiohttp.ClientSession.request`` (``json``, ``timeout``, ``params``...).

    Returns:
        The JSON response, or None when the response is not JSON.

    Raises:
        ClientResponseError: The server answered with a status of 400 or more.
        FileNotFoundException: The endpoint's certificate file does not exist.
    """
    headers: Dict[str, Any] = {}
    if content_type:
        headers["Content-Type"] = content_type
    headers.update(kwargs.pop("headers", {}) or {})
    headers.update(self.headers)
    url = concat_url(self.url, subpath)
    sslcontext = None
    if self.cafile:
        try:
            sslcontext = ssl.create_default_context(cafile=self.cafile)
        except FileNotFoundError as e:
            raise FileNotFoundException(
                f"Failed to find certificate file, '{os.path.abspath(self.cafile)}' does not exist."
            ) from e
    params = self.combine_parameters(kwargs)
    for attempt in (1, 2):
        try:
            async with _session(self).request(
                method, url, headers=headers, params=params, compress=compress, ssl=sslcontext, **kwargs
            ) as response:
                if response.status >= 400:
                    raise ClientResponseError(response.status, response.reason, await response.content.read())
                try:
                    return await response.json()
                except ContentTypeError:
                    return None
        except aiohttp.ServerDisconnectedError:
            if attempt == 2:
                raise
            logger.debug("The server closed a kept-alive connection; sending the request again.")
    return None  # not reached


async def close_sessions() -> None:
    """Close the shared sessions of the running event loop."""
    loop = asyncio.get_running_loop()
    for key, session in list(_sessions.items()):
        if session.loop is loop:
            del _sessions[key]
            await session.close()


async def _close_resources(app: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Rasa's shutdown listener, then the shared sessions."""
    await RASA_CLOSE_RESOURCES(app, loop)
    await close_sessions()


def apply() -> None:
    """Send endpoint requests on kept-alive connections (idempotent)."""
    EndpointConfig.request = request  # type: ignore[method-assign]
    rasa_run.close_resources = _close_resources
