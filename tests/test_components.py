"""The Rasa NLU component that escalates red flags, and the channel input guard."""

from __future__ import annotations

from typing import Any, Dict

from rasa.shared.nlu.training_data.message import Message

from bot.channels.guard import LONG_NOTICE, MAX_MESSAGE_CHARS, check_text, valid_sender
from bot.components import ChitChatGate, RedFlagScreen
from bot.redflags import screen


def _message(text: str, intent: str, confidence: float) -> Message:
    message = Message(data={"text": text})
    message.set("intent", {"name": intent, "confidence": confidence}, add_to_output=True)
    message.set(
        "intent_ranking",
        [{"name": intent, "confidence": confidence}, {"name": "greet", "confidence": 1 - confidence}],
        add_to_output=True,
    )
    return message


def _process(text: str, intent: str = "ask_question", confidence: float = 0.9, **config: Any) -> Dict:
    component = RedFlagScreen({**RedFlagScreen.get_default_config(), **config})
    (message,) = component.process([_message(text, intent, confidence)])
    return message.as_dict(only_output_properties=True)


def test_red_flag_overrides_any_intent() -> None:
    for intent in ("ask_question", "greet", "out_of_scope", "nlu_fallback", "thank"):
        parsed = _process("hi, I have a fever", intent=intent)
        assert parsed["intent"] == {"name": "report_severe_symptom", "confidence": 1.0}
        assert parsed["intent_ranking"][0]["name"] == "report_severe_symptom"
        assert parsed["red_flag"]["escalate"] is True
        assert parsed["red_flag"]["categories"] == ["fever"]


def test_emergency_level_entity_fills_the_slot() -> None:
    parsed = _process("my lips are swelling up")
    levels = [e["value"] for e in parsed["entities"] if e["entity"] == "red_flag_level"]
    assert levels == ["emergency"]
    parsed = _process("big blisters")
    assert [e["value"] for e in parsed["entities"] if e["entity"] == "red_flag_level"] == ["urgent"]


def test_benign_message_keeps_its_intent() -> None:
    parsed = _process("my skin is a bit red", intent="ask_question", confidence=0.8)
    assert parsed["intent"]["name"] == "ask_question"
    assert parsed["red_flag"]["escalate"] is False
    assert not any(e["entity"] == "red_flag_level" for e in parsed.get("entities", []))


def test_confident_classifier_escalation_is_kept_as_a_second_net() -> None:
    parsed = _process("something unusual is going on", intent="report_severe_symptom", confidence=0.95)
    assert parsed["intent"]["name"] == "report_severe_symptom"
    assert parsed["red_flag"]["categories"] == ["classifier"]


def test_unsure_classifier_escalation_is_not_trusted_alone() -> None:
    parsed = _process(
        "something unusual is going on",
        intent="report_severe_symptom",
        confidence=0.5,
        trust_classifier_above=0.9,
    )
    assert parsed["red_flag"]["escalate"] is False


def test_guard_bounds_long_messages_but_keeps_late_red_flags() -> None:
    text = "how do I store it? " * 400 + "also I have a high fever"
    checked = check_text(text)
    assert checked.text is not None and len(checked.text) <= MAX_MESSAGE_CHARS + 2
    assert checked.notice == LONG_NOTICE
    assert screen(checked.text).escalate


def test_guard_empty_and_non_text() -> None:
    assert check_text("").text is None
    assert check_text("   ").text is None
    assert check_text(None).text is None
    assert check_text("how do I store it?").text == "how do I store it?"


def test_sender_ids_are_validated() -> None:
    assert valid_sender("abc-123")
    assert not valid_sender("")
    assert not valid_sender({"a": 1})
    assert not valid_sender("x" * 200)
    assert not valid_sender("a b")


def test_unconfirmed_classifier_escalation_goes_to_the_leaflet_search() -> None:
    # The next-best intent here is a greeting; a symptom must never be greeted.
    parsed = _process("my skin is flaking", intent="report_severe_symptom", confidence=0.7)
    assert parsed["intent"] == {"name": "nlu_fallback", "confidence": 0.7}
    assert parsed["intent_ranking"][0]["name"] == "nlu_fallback"
    assert all(r["name"] != "report_severe_symptom" for r in parsed["intent_ranking"])


def test_classifier_is_not_trusted_when_the_patient_says_it_is_mild() -> None:
    parsed = _process("mild burning and stinging", intent="report_severe_symptom", confidence=0.99)
    assert parsed["red_flag"]["escalate"] is False
    assert parsed["intent"]["name"] != "report_severe_symptom"


def test_doubtful_chit_chat_goes_to_the_leaflet_search() -> None:
    gate = ChitChatGate(ChitChatGate.get_default_config())
    (doubtful,) = gate.process([_message("every day?", "greet", 0.86)])
    assert doubtful.get("intent") == {"name": "nlu_fallback", "confidence": 0.86}
    assert doubtful.get("intent_ranking")[0]["name"] == "nlu_fallback"
    (sure,) = gate.process([_message("hello", "greet", 0.99)])
    assert sure.get("intent")["name"] == "greet"
    (question,) = gate.process([_message("how do i store it", "ask_question", 0.5)])
    assert question.get("intent")["name"] == "ask_question"
