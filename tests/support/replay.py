"""Replay conversations through retrieval in-process, as the action server carries them.

Two ways, for offline figures:

- ``decide_second_turn``: retrieval alone, no NLU and no red-flag screen (the
  scorer's training, the threshold curve).
- ``replay_conversation``: routed like the bot, with the intent a trained
  Rasa model gives each message (``make tune-offline``). A chit-chat intent
  gets its fixed reply and leaves the context alone; an escalation is sent
  first and the rest of the message answered; anything else goes to
  ``action_answer_question``'s retrieval. It gives the same tuning and
  hold-out figures as the bot through its servers (checked in session 11),
  in about a tenth of the time, so an idea can be tried on the tuning part
  before the bot is run. The bot through its servers remains the measure.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from actions.answer import _question_in_context, decide_for_turn
from bot import redflags
from bot.names import ESCALATION_INTENT, OUT_OF_SCOPE_INTENT
from knowledge import settings
from knowledge.answering import Decision, decide
from knowledge.ask import reply_actions, rule_replies
from tests.support.botclient import Turn


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


@dataclass
class Replayed:
    """The last turn of a replayed conversation.

    Attributes:
        turn: What the bot client would see (responses and passages).
        decision: The retrieval decision (None after a chit-chat reply).
    """

    turn: Turn
    decision: Optional[Decision]

    @property
    def ranking(self) -> List[str]:
        """The retrieval ranking's passages (empty after a chit-chat reply)."""
        return [h.passage.id for h in self.decision.ranking] if self.decision else []


def replay_conversation(turns: Sequence[str], intent_of: Callable[[str], str]) -> Replayed:
    """Play a conversation's messages the way the bot routes them, and describe the last turn.

    Args:
        turns: The patient's messages, in order.
        intent_of: The intent NLU gives a message (after the Rasa server's
            own red-flag screen).

    Returns:
        The last turn.
    """
    previous = None
    given: List[str] = []
    last = Replayed(Turn(), None)
    for text in turns:
        intent = intent_of(text)
        escalated = intent == ESCALATION_INTENT or redflags.screen(text).escalate
        if intent in rule_replies() and not escalated:
            # The rules answer it; the action, and so the context, is untouched.
            last = Replayed(Turn(utter_actions=reply_actions(intent, escalated, []), intent=intent), None)
            continue
        decision = decide_for_turn(text, previous, given, escalated, intent == OUT_OF_SCOPE_INTENT)
        previous = _question_in_context(text, previous, decision)
        given = [h.passage.id for h in decision.answer]
        turn = Turn(utter_actions=reply_actions(intent, escalated, given), passage_ids=list(given), intent=intent)
        last = Replayed(turn, decision)
    return last


def intents_from_model(texts: Sequence[str], model_path: str) -> Dict[str, str]:
    """Parse messages with a trained Rasa model, in-process.

    Args:
        texts: The messages.
        model_path: The trained model (``models/imiquimod-faq.tar.gz``).

    Returns:
        Each distinct message's intent.
    """
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # Rasa logs each parsed text at debug level
    agent = Agent.load(model_path)

    async def parse_all() -> Dict[str, str]:
        return {text: (await agent.parse_message(text))["intent"]["name"] for text in dict.fromkeys(texts)}

    return asyncio.run(parse_all())
