"""Fit the bot's replies into Telegram's limits.

Telegram rejects a message longer than 4096 characters (counted in UTF-16
code units) and an inline button whose ``callback_data`` is longer than 64
bytes. Long replies are split at sentence boundaries; long button payloads
are replaced by a short key that maps back to the payload.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from typing import Callable, List, Optional

MAX_MESSAGE_UNITS = 4096
MAX_CALLBACK_BYTES = 64
MAPPED_PREFIX = "~cb:"
_MAPPED_KEY_HEX = 32

# A sentence ends with . ! ? or an ellipsis, perhaps followed by a closing
# quote or bracket, before whitespace; a line break always ends a piece.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”’)\]]))(?=\s)|(?<=\n)")
_WORD_START = re.compile(r"(?<=\s)(?=\S)")


def utf16_units(text: str) -> int:
    """How long Telegram considers a text: its length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _sentences(text: str) -> List[str]:
    return [piece for piece in _SENTENCE_END.split(text) if piece]


def _words(text: str) -> List[str]:
    return [piece for piece in _WORD_START.split(text) if piece]


def _characters(text: str) -> List[str]:
    return list(text)


_LEVELS: List[Callable[[str], List[str]]] = [_sentences, _words, _characters]


def _pack(text: str, limit: int, level: int) -> List[str]:
    """Greedily join the pieces of one level into chunks within the limit."""
    chunks: List[str] = []
    current: List[str] = []
    size = 0
    for piece in _LEVELS[level](text):
        units = utf16_units(piece)
        if size + units <= limit:
            current.append(piece)
            size += units
            continue
        if current:
            chunks.append("".join(current))
        if units <= limit:
            current, size = [piece], units
        else:
            finer = _pack(piece, limit, level + 1)
            chunks.extend(finer[:-1])
            current, size = [finer[-1]], utf16_units(finer[-1])
    if current:
        chunks.append("".join(current))
    return chunks


def split_message(text: str, limit: int = MAX_MESSAGE_UNITS) -> List[str]:
    """Split a reply into messages Telegram accepts, at sentence boundaries.

    A sentence longer than the limit is split between words, and a word
    longer than the limit is cut.

    Args:
        text: The reply.
        limit: The longest message, in UTF-16 code units.

    Returns:
        The non-empty, stripped messages, in order; none for a blank reply.

    Raises:
        ValueError: The limit is too small to hold any character.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2 UTF-16 code units")
    text = text.strip()
    if not text:
        return []
    if utf16_units(text) <= limit:
        return [text]
    return [chunk.strip() for chunk in _pack(text, limit, 0) if chunk.strip()]


def fits_callback_data(payload: str) -> bool:
    """Whether a payload can be sent as ``callback_data`` unchanged (1-64 bytes)."""
    return 1 <= len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES and not payload.startswith(MAPPED_PREFIX)


class CallbackPayloads:
    """Bound button payloads to Telegram's 64-byte ``callback_data``.

    A payload that fits is sent as it is. A longer one is sent as a key
    (``~cb:`` and 32 hex digits of its SHA-256) and remembered, so a press
    on that button brings back the full payload. The memory is bounded and
    lives in this process only: after a restart, or once a key has been
    evicted, a press falls back to the button's title.
    """

    def __init__(self, capacity: int = 2048) -> None:
        """Create an empty map.

        Args:
            capacity: How many long payloads to remember.
        """
        self._capacity = capacity
        self._payloads: OrderedDict[str, str] = OrderedDict()

    def encode(self, payload: str) -> str:
        """Return the ``callback_data`` for a payload: itself, or a key.

        Args:
            payload: The button's payload.

        Returns:
            A string of 1-64 bytes.
        """
        if fits_callback_data(payload):
            return payload
        key = MAPPED_PREFIX + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:_MAPPED_KEY_HEX]
        self._payloads[key] = payload
        self._payloads.move_to_end(key)
        while len(self._payloads) > self._capacity:
            self._payloads.popitem(last=False)
        return key

    def decode(self, data: str, title: Optional[str] = None) -> Optional[str]:
        """Return the payload a button press stands for.

        Args:
            data: The ``callback_data`` Telegram sent back.
            title: The pressed button's title, if known.

        Returns:
            The payload; the title for a key no longer remembered; None if neither is known.
        """
        if not data.startswith(MAPPED_PREFIX):
            return data
        return self._payloads.get(data) or title


__all__ = ["CallbackPayloads", "MAX_CALLBACK_BYTES", "MAX_MESSAGE_UNITS", "split_message", "utf16_units"]
