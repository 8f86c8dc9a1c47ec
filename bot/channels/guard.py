"""Checks every channel applies to incoming text before it reaches Rasa.

Over-long messages are cut to a bounded size so NLU stays fast; a red flag
found anywhere in the full text is kept in what the bot reads, so cutting a
message can never hide an escalation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from bot import redflags

MAX_MESSAGE_CHARS = 2000
MAX_SENDER_CHARS = 128
_SENDER = re.compile(rf"^[A-Za-z0-9_.:@+\-]{{1,{MAX_SENDER_CHARS}}}$")
LONG_NOTICE = (
    f"Your message was very long, so I read only its first {MAX_MESSAGE_CHARS} characters. "
    "Please send one question at a time."
)
EMPTY_REPLY = "Please type your question about imiquimod cream."


@dataclass(frozen=True)
class Checked:
    """A message after the checks.

    Attributes:
        text: What the bot should read; None when there is nothing to read.
        notice: A note for the patient about how the message was handled.
    """

    text: Optional[str]
    notice: Optional[str] = None


def check_text(raw: object) -> Checked:
    """Bound a patient's message.

    Args:
        raw: The message as received.

    Returns:
        The text the bot should read, and any notice for the patient.
    """
    if not isinstance(raw, str) or not raw.strip():
        return Checked(None, EMPTY_REPLY)
    text = raw.replace("\x00", "").strip()
    if len(text) <= MAX_MESSAGE_CHARS:
        return Checked(text)
    head = text[:MAX_MESSAGE_CHARS]
    full = redflags.screen(text)
    if full.escalate and not redflags.screen(head).escalate:
        kept = "; ".join(dict.fromkeys(full.matches))[: MAX_MESSAGE_CHARS // 2]
        head = f"{kept}. {text[: MAX_MESSAGE_CHARS - len(kept) - 2]}"
    return Checked(head, LONG_NOTICE)


def valid_sender(sender: object) -> bool:
    """Whether a sender id is a short, plain string."""
    return isinstance(sender, str) and bool(_SENDER.match(sender))
