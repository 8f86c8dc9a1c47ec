"""Replay a two-turn conversation through retrieval alone, as the action server carries it.

The first message is decided; the question it leaves in context and the
passages it gave are what the action server keeps for the next turn; the
second message is decided with them. No NLU and no red-flag screen: this is
for offline figures (the scorer's training, the threshold curve), not for
the bot's behaviour, which is measured through the servers.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

from actions.answer import _question_in_context
from knowledge import settings
from knowledge.answering import Decision, decide


def decide_second_turn(
    turns: Sequence[str], threshold: float = settings.ANSWER_THRESHOLD
) -> Tuple[Decision, List[str]]:
    """Decide the second message of a conversation in the context of the first.

    Args:
        turns: The two messages.
        threshold: The answer threshold for the second message.

    Returns:
        The second message's decision, and the passages the first one was given.
    """
    first, second = turns
    opening = decide(first)
    given = [h.passage.id for h in opening.answer]
    return decide(second, _question_in_context(first, None, opening), given, threshold=threshold), given
