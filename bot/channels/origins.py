"""Which web origins may talk to the bot from a browser: the ``CORS_ORIGINS`` setting.

``bot.serve`` passes the list to ``rasa run --cors`` (Sanic-CORS then sets the
response headers on every route), and the socket.io channel checks the
``Origin`` of each connection against the same list. A page served by the bot
itself (same origin) always works. ``*`` is never accepted: a patient-facing
bot names the sites that embed it.
"""

from __future__ import annotations

import logging
import os
import re
from typing import List, Mapping, Optional, Sequence

logger = logging.getLogger(__name__)

ENV_NAME = "CORS_ORIGINS"
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def configured_origins(environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """Read the allowed origins from ``CORS_ORIGINS`` (space-separated).

    Entries that are not a plain ``scheme://host[:port]`` origin, and ``*``,
    are dropped with a warning.

    Args:
        environ: Where to read the setting; ``os.environ`` by default.

    Returns:
        The origins, without trailing slashes, in the order given.
    """
    raw = (os.environ if environ is None else environ).get(ENV_NAME, "")
    origins: List[str] = []
    for entry in raw.split():
        origin = entry.rstrip("/")
        if not _ORIGIN.match(origin):
            logger.warning("%s: ignoring %r: not an origin like https://www.clinic.example", ENV_NAME, entry)
            continue
        if origin not in origins:
            origins.append(origin)
    return origins


def same_origin(environ: Mapping[str, str]) -> Optional[str]:
    """The origin the request was addressed to, from an engine.io WSGI-style environ.

    Args:
        environ: The request environment (``HTTP_HOST``, ``wsgi.url_scheme``).

    Returns:
        ``scheme://host[:port]``, or None without a Host header.
    """
    host = environ.get("HTTP_HOST")
    if not host:
        return None
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}"


def origin_allowed(origin: Optional[str], environ: Mapping[str, str], allowed: Sequence[str]) -> bool:
    """Whether a browser request from ``origin`` may use the bot.

    Args:
        origin: The request's ``Origin`` header; None for non-browser clients.
        environ: The request environment, to recognise same-origin requests.
        allowed: The configured origins.

    Returns:
        True for no ``Origin`` header, the bot's own origin or a configured one.
    """
    if not origin:
        return True
    return origin == same_origin(environ) or origin in allowed
