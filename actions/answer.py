"""``action_answer_question``: answer free text from the leaflet."""

from __future__ import annotations

import logging
import traceback
from typing import Any, Dict, List, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot import redflags
from bot.names import (
    DISCLAIMER_RESPONSES,
    ESCALATION_INTENT,
    ESCALATION_RESPONSE,
    OUT_OF_SCOPE_INTENT,
    RED_FLAG_LEVEL,
)
from knowledge import settings
from knowledge.answering import Decision, decide, looks_like_follow_up, split_parts, unknown_words
from knowledge.classifier import get_passage_classifier
from knowledge.embedder import warm_up
from knowledge.gate import gated, get_answer_gate
from knowledge.rerank import get_reranker
from knowledge.search import Hit, get_knowledge_base

logger = logging.getLogger(__name__)

# Load the index, the model, the follow-up scorer's and the gate's weights when the
# action server imports this module, so the first patient does not wait for
# them, and weights learned on other passages stop the server at start
# ("run `make reranker`") instead of failing every follow-up later.
get_knowledge_base()
warm_up()
get_reranker()
get_passage_classifier()
get_answer_gate()


def format_answer(hit: Hit) -> str:
    """Render a passage with its source section.

    Args:
        hit: The passage to give.

    Returns:
        The leaflet text, verbatim, and the section it comes from.
    """
    return f'{hit.passage.text}\n(Source: patient leaflet, section "{hit.passage.title}")'


def escalation_already_sent(tracker: Tracker) -> bool:
    """Whether ``utter_contact_provider`` was sent since the latest user message."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if (
            event.get("event") == "bot"
            and (event.get("metadata") or {}).get("utter_action") == "utter_contact_provider"
        ):
            return True
    return False


def disclaimer_shown(tracker: Tracker) -> bool:
    """Whether this session has already shown the disclaimer."""
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            return False
        if event.get("event") == "bot" and (event.get("metadata") or {}).get("utter_action") in DISCLAIMER_RESPONSES:
            return True
    return False


def outcome(answered: bool, escalated: bool, off_topic: bool) -> str:
    """Name what this turn ended with, for the rules that follow the action.

    Args:
        answered: Whether passages were sent.
        escalated: Whether this turn was escalated.
        off_topic: Whether NLU called the message off-topic.

    Returns:
        ``answered``; ``escalated`` (nothing more to say after the
        escalation); ``out_of_scope`` or ``not_found``, after which the rules
        send ``utter_out_of_scope`` or ``utter_no_answer``.
    """
    if answered:
        return "answered"
    if escalated:
        return "escalated"
    return "out_of_scope" if off_topic else "not_found"


def decide_for_turn(
    text: str,
    previous: Optional[str],
    previous_passages: List[str],
    escalated: bool,
    off_topic: bool,
) -> Decision:
    """Search the leaflet with the bar that fits how the message was routed.

    Args:
        text: The patient's message.
        previous: The last question answered in this conversation.
        previous_passages: The passages given in the last answer.
        escalated: Whether the message was escalated.
        off_topic: Whether NLU called the message off-topic.

    Returns:
        The retrieval decision.
    """
    if escalated:
        parts = [p for p in split_parts(text) if not redflags.screen(p).escalate]
        if parts:
            return decide(" ".join(parts))
        return decide(text, threshold=settings.ESCALATED_ANSWER_THRESHOLD)
    threshold = settings.ANSWER_THRESHOLD
    if off_topic and not (previous and looks_like_follow_up(text)):
        threshold = settings.OUT_OF_SCOPE_ANSWER_THRESHOLD
    # An off-topic message ("tell me a joke") must not be answered with the
    # previous passage just because it is read together with the previous
    # question: when NLU calls it off-topic and it names something the
    # leaflet never mentions, the context may add only a little to its own
    # reading. ("should i worry?", which NLU also calls off-topic, names
    # nothing and keeps its context.)
    gain = settings.OFF_TOPIC_CONTEXT_GAIN if off_topic and unknown_words(text) else None
    # A message read in context: the learned gate has the last word on
    # whether to answer (knowledge.gate), except that it may not answer an
    # off-topic message the rules declined with its context capped.
    decision = decide(text, previous, previous_passages, threshold=threshold, context_gain=gain)
    return gated(decision, text, may_answer=gain is None)


class ActionAnswerQuestion(Action):
    """Answer a question with the best leaflet passages, or decline honestly.

    Screens the message for red flags again (defence in depth: the Rasa
    server's ``RedFlagScreen`` already did) and escalates first if the
    escalation was not already sent this turn.
    """

    def name(self) -> str:
        """Return the action's name."""
        return "action_answer_question"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> List[Dict[str, Any]]:
        """Answer the latest user message.

        Args:
            dispatcher: Collects the replies.
            tracker: The conversation so far.
            domain: The bot's domain.

        Returns:
            Slot events: the outcome for the rules, the question for
            follow-ups and the ranking for inspection.
        """
        text: str = tracker.latest_message.get("text") or ""
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        escalated = intent == ESCALATION_INTENT
        events: List[Dict[str, Any]] = []
        screen = redflags.screen(text)
        if screen.escalate and not escalation_already_sent(tracker):
            events.append(SlotSet(RED_FLAG_LEVEL, screen.level))
            dispatcher.utter_message(response=ESCALATION_RESPONSE)
            escalated = True
        escalated = escalated or screen.escalate

        previous: Optional[str] = tracker.get_slot("last_question")
        previous_passages: List[str] = list(tracker.get_slot("last_passage_ids") or [])
        try:
            decision = decide_for_turn(text, previous, previous_passages, escalated, intent == OUT_OF_SCOPE_INTENT)
        except Exception as error:  # noqa: BLE001 - the patient must still get a reply
            return events + failed_search(error, text, escalated, intent == OUT_OF_SCOPE_INTENT)
        logger.debug(
            "answer: follow_up=%s top=%s",
            decision.follow_up,
            [(h.passage.id, round(h.score, 3)) for h in decision.ranking[:3]],
        )
        for hit in decision.answer:
            dispatcher.utter_message(
                text=format_answer(hit),
                passage_id=hit.passage.id,
                section=hit.passage.title,
                score=round(hit.score, 4),
            )
        # The context for the next message, answered or not: "can i still use
        # it?" after "i'm pregnant" needs the statement that got no answer.
        events.append(SlotSet("last_question", _question_in_context(text, previous, decision)))
        events.append(SlotSet("last_passage_ids", [h.passage.id for h in decision.answer]))
        if decision.answered:
            if not disclaimer_shown(tracker):
                dispatcher.utter_message(response="utter_disclaimer")
        events.append(SlotSet("retrieval_ranking", [h.passage.id for h in decision.ranking]))
        events.append(SlotSet("answer_outcome", outcome(decision.answered, escalated, intent == OUT_OF_SCOPE_INTENT)))
        return events


def failed_search(error: Exception, text: str, escalated: bool, off_topic: bool) -> List[Dict[str, Any]]:
    """Decline a message the search failed on, and log the failure without the message.

    The rules then send ``utter_no_answer`` (or nothing more after an
    escalation, which was already sent), so the patient gets a clear reply
    instead of silence, and the Rasa server never sees an action error, whose
    log would carry the whole tracker, patient text included. The log names
    the exception's type and where it was raised, not its message, which
    could quote the text.

    Args:
        error: What the search raised.
        text: The patient's message, kept as the context of the next one.
        escalated: Whether this turn was escalated.
        off_topic: Whether NLU called the message off-topic.

    Returns:
        The slot events of a declined turn.
    """
    logger.error(
        "answer: search failed (%s), message declined\n%s",
        type(error).__name__,
        "".join(traceback.format_tb(error.__traceback__)),
    )
    return [
        SlotSet("last_question", text[-500:]),
        SlotSet("last_passage_ids", []),
        SlotSet("retrieval_ranking", []),
        SlotSet("answer_outcome", outcome(False, escalated, off_topic)),
    ]


def _question_in_context(text: str, previous: Optional[str], decision: Decision) -> str:
    """The question to remember for the next turn.

    The follow-up rewritten as a question of its own when it was ("and for
    bcc?" -> "how long until it works for bcc?"); the previous question and
    the message together when the message only made sense with it ("and how
    much of it?"); otherwise the message itself.
    """
    if decision.standalone:
        return decision.standalone[-500:]
    if decision.follow_up and previous and looks_like_follow_up(text):
        return f"{previous} {text}"[-500:]
    return text[-500:]
