"""Score the running bot on the labelled messages.

Every message goes through the real Rasa server over REST, in its own new
conversation (a two-turn message, a follow-up or a decline in context, plays
both turns in one conversation and is scored on the second).
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from tests.eval.metrics import Prediction
from tests.support.botclient import BotClient, Turn


@dataclass
class Outcome:
    """One labelled message and what the bot did with it."""

    message: Dict[str, Any]
    turn: Turn
    ranking: List[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """The message's label kind."""
        return str(self.message["kind"])

    @property
    def text(self) -> str:
        """The scored text (both turns of a conversation, the second scored)."""
        if "turns" in self.message:
            return " / ".join(self.message["turns"])
        return str(self.message["text"])

    @property
    def first_passage(self) -> Optional[str]:
        """The first passage the bot answered with."""
        return self.turn.passage_ids[0] if self.turn.passage_ids else None

    @property
    def correct(self) -> bool:
        """Whether the bot did what the label asks."""
        expect = set(self.message.get("expect") or [])
        if self.kind == "escalate":
            return self.turn.escalated_first
        if self.kind == "decline":
            return self.turn.declined and not self.turn.passage_ids and not self.turn.escalated
        if self.kind == "benign":
            return not self.turn.escalated and self.first_passage in expect
        return self.first_passage in expect

    def rank_of_expected(self) -> Optional[int]:
        """1-based rank of the first expected passage in the retrieval ranking."""
        expect = set(self.message.get("expect") or [])
        for position, passage_id in enumerate(self.ranking, start=1):
            if passage_id in expect:
                return position
        return None


def _ranking(client: BotClient, sender: str) -> List[str]:
    for event in reversed(client.tracker_events(sender)):
        if event.get("event") == "slot" and event.get("name") == "retrieval_ranking":
            return list(event.get("value") or [])
        if event.get("event") == "user":
            break
    return []


def run_message(client: BotClient, message: Dict[str, Any]) -> Outcome:
    """Play one labelled message through the bot.

    Args:
        client: A client of the running bot.
        message: The labelled message.

    Returns:
        The outcome.
    """
    sender = f"eval-{message['id']}-{uuid.uuid4().hex[:8]}"
    turns = message.get("turns") or [message["text"]]
    turn = Turn()
    for text in turns:
        turn = client.turn(sender, text)
    return Outcome(message=message, turn=turn, ranking=_ranking(client, sender))


def run_all(client: BotClient, messages: List[Dict[str, Any]], workers: int = 4) -> List[Outcome]:
    """Play every labelled message, a few conversations at a time.

    Args:
        client: A client of the running bot.
        messages: The labelled messages.
        workers: Concurrent conversations.

    Returns:
        The outcomes, in the order of ``messages``.
    """
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda m: run_message(client, m), messages))


def to_predictions(outcomes: List[Outcome]) -> List[Prediction]:
    """Describe the bot's outcomes as predictions, for ``tests.eval.metrics.score``.

    Args:
        outcomes: Outcomes of played messages.

    Returns:
        One prediction per outcome: the first passage answered, the ranking
        (answered passages first), and whether the bot declined or escalated first.
    """
    predictions = []
    for outcome in outcomes:
        answered = outcome.turn.passage_ids
        predictions.append(
            Prediction(
                answer=answered[0] if answered else None,
                ranking=list(dict.fromkeys([*answered, *outcome.ranking])),
                declined=outcome.turn.declined and not answered,
                escalated=outcome.turn.escalated_first,
            )
        )
    return predictions
