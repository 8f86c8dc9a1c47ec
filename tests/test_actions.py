"""action_answer_question on a Tracker and a CollectingDispatcher, like rasa-sdk's own tests."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerQuestion


def _tracker(
    text: str,
    intent: str = "ask_question",
    slots: Optional[Dict[str, Any]] = None,
    events: Optional[List[Dict[str, Any]]] = None,
) -> Tracker:
    return Tracker(
        sender_id="test",
        slots=slots or {},
        latest_message={"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []},
        events=events or [{"event": "session_started"}, {"event": "user", "text": text}],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def _slot(events: List[Dict[str, Any]], name: str) -> Any:
    values = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name]
    return values[-1] if values else None


async def test_answers_with_the_passage_and_its_section() -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerQuestion().run(dispatcher, _tracker("how should I store the cream?"), {})
    first = dispatcher.messages[0]
    assert first["text"].startswith("Store imiquimod at room temperature away from heat and light.")
    assert 'section "Storage and disposal"' in first["text"]
    assert first["passage_id"] == "storage-1"
    assert dispatcher.messages[-1]["response"] == "utter_disclaimer"
    assert _slot(events, "answer_outcome") == "answered"
    assert _slot(events, "last_question") == "how should I store the cream?"
    assert _slot(events, "last_passage_ids") == ["storage-1"]
    assert SlotSet("answer_outcome", "answered") in events


async def test_disclaimer_is_not_repeated_in_a_session() -> None:
    dispatcher = CollectingDispatcher()
    events = [
        {"event": "session_started"},
        {"event": "bot", "text": "...", "metadata": {"utter_action": "utter_disclaimer"}},
        {"event": "user", "text": "how should I store the cream?"},
    ]
    await ActionAnswerQuestion().run(dispatcher, _tracker("how should I store the cream?", events=events), {})
    assert all(m.get("response") != "utter_disclaimer" for m in dispatcher.messages)


async def test_unknown_question_is_declined_by_the_rules() -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerQuestion().run(dispatcher, _tracker("can I drink alcohol with it?"), {})
    assert dispatcher.messages == []
    assert _slot(events, "answer_outcome") == "not_found"


async def test_off_topic_is_declined_as_out_of_scope() -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerQuestion().run(
        dispatcher, _tracker("who won the football last night", intent="out_of_scope"), {}
    )
    assert dispatcher.messages == []
    assert _slot(events, "answer_outcome") == "out_of_scope"


async def test_escalates_itself_when_the_rasa_screen_did_not() -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerQuestion().run(
        dispatcher, _tracker("I have big blisters, how do I store it?", intent="greet"), {}
    )
    assert dispatcher.messages[0]["response"] == "utter_contact_provider"
    assert any(m.get("passage_id") == "storage-1" for m in dispatcher.messages[1:])
    assert _slot(events, "red_flag_level") == "urgent"


async def test_does_not_escalate_twice_in_one_turn() -> None:
    dispatcher = CollectingDispatcher()
    text = "I have a fever"
    events = [
        {"event": "user", "text": text},
        {"event": "bot", "text": "Stop using...", "metadata": {"utter_action": "utter_contact_provider"}},
    ]
    result = await ActionAnswerQuestion().run(
        dispatcher, _tracker(text, intent="report_severe_symptom", events=events), {}
    )
    assert all(m.get("response") != "utter_contact_provider" for m in dispatcher.messages)
    assert _slot(result, "answer_outcome") in ("escalated", "answered")


async def test_symptom_only_escalation_sends_no_unrelated_passage() -> None:
    dispatcher = CollectingDispatcher()
    text = "my lips are swelling"
    events = [
        {"event": "user", "text": text},
        {"event": "bot", "text": "Stop using...", "metadata": {"utter_action": "utter_contact_provider"}},
    ]
    result = await ActionAnswerQuestion().run(
        dispatcher, _tracker(text, intent="report_severe_symptom", events=events), {}
    )
    assert dispatcher.messages == []
    assert _slot(result, "answer_outcome") == "escalated"


async def test_follow_up_is_answered_in_context() -> None:
    dispatcher = CollectingDispatcher()
    tracker = _tracker(
        "and how do I get rid of old tubes?",
        slots={"last_question": "how should I store the cream?", "last_passage_ids": ["storage-1"]},
    )
    await ActionAnswerQuestion().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["passage_id"] == "storage-2"


async def _off_topic_after(
    text: str, last_question: str, last_passages: List[str]
) -> Tuple[CollectingDispatcher, List[Dict[str, Any]]]:
    """Run the action on a message NLU called off-topic, after an earlier question."""
    dispatcher = CollectingDispatcher()
    tracker = _tracker(
        text, intent="out_of_scope", slots={"last_question": last_question, "last_passage_ids": last_passages}
    )
    events = await ActionAnswerQuestion().run(dispatcher, tracker, {})
    return dispatcher, events


async def test_short_follow_up_marked_off_topic_by_nlu_is_still_answered() -> None:
    dispatcher, events = await _off_topic_after("and for warts?", "how long until I see results?", ["quick-faqs-2"])
    assert dispatcher.messages[0]["passage_id"] == "after-treatment-2"
    assert _slot(events, "answer_outcome") == "answered"


async def test_an_off_topic_message_after_a_question_is_not_answered_from_the_context() -> None:
    dispatcher, events = await _off_topic_after("tell me a joke", "how do i store it?", ["storage-1"])
    assert not any(m.get("passage_id") for m in dispatcher.messages)
    assert _slot(events, "answer_outcome") == "out_of_scope"


async def test_a_vague_question_nlu_calls_off_topic_keeps_its_context() -> None:
    # "should i worry?" names nothing the leaflet does not: it leans on the statement.
    dispatcher, _ = await _off_topic_after("should i worry?", "i have scabs now", ["side-effects-1"])
    assert dispatcher.messages[0]["passage_id"] in {"side-effects-1", "how-it-works-2"}


async def test_a_statement_with_no_answer_is_kept_as_context_for_the_next_question() -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerQuestion().run(dispatcher, _tracker("my sister lives in spain"), {})
    assert _slot(events, "answer_outcome") == "not_found"
    assert _slot(events, "last_question") == "my sister lives in spain"
    assert _slot(events, "last_passage_ids") == []
    dispatcher = CollectingDispatcher()
    tracker = _tracker("can i still use the cream?", slots={"last_question": "i'm pregnant", "last_passage_ids": []})
    await ActionAnswerQuestion().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["passage_id"] == "side-effects-3"


async def test_a_rewritten_follow_up_is_remembered_as_its_standalone_question() -> None:
    dispatcher = CollectingDispatcher()
    tracker = _tracker(
        "and for basal cell carcinoma?",
        slots={"last_question": "how long until i see results for warts?", "last_passage_ids": ["after-treatment-2"]},
    )
    events = await ActionAnswerQuestion().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["passage_id"] == "after-treatment-3"
    assert _slot(events, "last_question") == "how long until i see results for basal cell carcinoma?"


async def test_a_failed_search_is_declined_without_logging_the_message(monkeypatch, caplog) -> None:
    # Whatever breaks inside the search (a stale scorer file, a bad index),
    # the patient gets the decline, the context is kept, and the log names
    # the failure but never the message, not even through the exception's text.
    marker = "zebra-7f3a"

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError(f"could not read {marker}")

    monkeypatch.setattr("actions.answer.decide_for_turn", broken)
    dispatcher = CollectingDispatcher()
    with caplog.at_level("DEBUG", logger="actions.answer"):
        events = await ActionAnswerQuestion().run(dispatcher, _tracker(f"how do i store it {marker}?"), {})
    assert _slot(events, "answer_outcome") == "not_found"
    assert _slot(events, "last_question") == f"how do i store it {marker}?"
    assert _slot(events, "last_passage_ids") == []
    assert dispatcher.messages == []
    # the failure is named, with where it was raised
    assert "ValueError" in caplog.text and "in broken" in caplog.text
    assert marker not in caplog.text


async def test_a_failed_search_after_an_escalation_keeps_the_escalation(monkeypatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("index unreadable")

    monkeypatch.setattr("actions.answer.decide_for_turn", broken)
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerQuestion().run(dispatcher, _tracker("i have a high fever and big blisters"), {})
    assert [m.get("response") for m in dispatcher.messages] == ["utter_contact_provider"]
    assert _slot(events, "answer_outcome") == "escalated"
