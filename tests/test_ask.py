"""The inspection command pharmacists use to see how the bot treats one message."""

from __future__ import annotations

from typing import Any, Dict, Optional

from knowledge.ask import describe, rule_replies


def _parse(intent: str, confidence: float = 0.99) -> Dict[str, Any]:
    return {"intent": {"name": intent, "confidence": confidence}}


def _reply(text: str, parse: Optional[Dict[str, Any]], previous: Optional[str] = None) -> str:
    lines = describe(text, previous, parse)
    return next(line for line in lines if line.startswith("bot reply:")).split(":", 1)[1].strip()


def test_chit_chat_replies_are_read_from_the_dialogue_rules() -> None:
    replies = rule_replies()
    assert replies["greet"] == "utter_greet, utter_disclaimer"
    assert replies["thank"] == "utter_you_are_welcome"
    assert replies["bot_challenge"] == "utter_iamabot"
    # Only intent -> actions rules: the question rules depend on a slot.
    assert "ask_question" not in replies


def test_a_greeting_gets_the_rules_reply() -> None:
    assert _reply("hello", _parse("greet")) == "utter_greet, utter_disclaimer"


def test_a_leaflet_question_shows_its_passage() -> None:
    assert _reply("how should I store the cream?", _parse("ask_question")) == "passage storage-1"


def test_a_red_flag_is_escalated_first_even_when_nlu_says_greet() -> None:
    reply = _reply("hi, I have a fever", _parse("greet"))
    assert reply.startswith("utter_contact_provider")
    assert "utter_greet" not in reply


def test_without_nlu_the_report_says_so_and_still_screens() -> None:
    lines = describe("big blisters on my arm", None, None)
    assert any("unavailable" in line for line in lines)
    assert any(line.startswith("escalate:   YES") for line in lines)


def test_a_follow_up_is_inspected_in_context() -> None:
    assert _reply("and how often?", _parse("nlu_fallback", 0.45), previous="how much should i put on?") == (
        "passage how-to-apply-2"
    )
    lines = describe("and how often?", "how much should i put on?", _parse("nlu_fallback", 0.45))
    assert "follow-up read as: 'how often should i put on'" in lines


def test_a_lexicon_gloss_is_shown() -> None:
    lines = describe("i'm on tacrolimus, can i use aldara?", None, _parse("ask_question"))
    glossed = "i'm on tacrolimus (an immune-suppressing drug), can i use aldara?"
    assert f"searched as: {glossed!r} (knowledge/lexicon.yml)" in lines
    assert not any(line.startswith("searched as:") for line in describe("how do i store it?", None, None))


def test_the_answer_gate_verdict_is_shown_for_a_message_in_context() -> None:
    previous = "what are common side effects"
    percent = "roughly what percent of people get the itching?"
    lines = describe(percent, previous, _parse("ask_question"))
    gate = next(line for line in lines if line.startswith("answer gate:"))
    assert "-> decline" in gate and "the threshold rules alone: answer" in gate
    assert _reply(percent, _parse("ask_question"), previous=previous) == "utter_no_answer"
    assert not any(line.startswith("answer gate:") for line in describe("how do i store it?", None, None))
