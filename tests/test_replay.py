"""The in-process replay (``make tune-offline``) routes messages as the bot does."""

from __future__ import annotations

import uuid
from typing import Any, Callable, Dict, List

import pytest

from knowledge.ask import parse_with_server
from tests.support.botclient import BotClient
from tests.support.labelled import load_labelled
from tests.support.replay import replay_conversation


def _intents(mapping: Dict[str, str]) -> Callable[[str], str]:
    return lambda text: mapping.get(text, "ask_question")


def test_chit_chat_gets_its_fixed_reply_and_leaves_no_context() -> None:
    replayed = replay_conversation(["hello"], _intents({"hello": "greet"}))
    assert replayed.turn.utter_actions == ["utter_greet", "utter_disclaimer"]
    assert not replayed.turn.passage_ids and not replayed.turn.declined and not replayed.turn.escalated
    assert replayed.ranking == [] and replayed.decision is None


def test_a_leaflet_question_gets_its_passage() -> None:
    replayed = replay_conversation(["hello", "how should i store the cream?"], _intents({"hello": "greet"}))
    assert replayed.turn.passage_ids and replayed.turn.passage_ids[0].startswith("storage-")
    assert replayed.ranking[0] == replayed.turn.passage_ids[0]
    assert not replayed.turn.declined


def test_a_red_flag_is_escalated_first_even_when_nlu_missed_it() -> None:
    replayed = replay_conversation(["i have a fever and big blisters where i put it"], _intents({}))
    assert replayed.turn.escalated_first
    assert not replayed.turn.declined


def test_an_off_topic_second_turn_is_declined_as_off_topic() -> None:
    joke = "tell me a joke"
    replayed = replay_conversation(["how should i store the cream?", joke], _intents({joke: "out_of_scope"}))
    assert replayed.turn.passage_ids == []
    assert replayed.turn.utter_actions == ["utter_out_of_scope"]


def test_a_question_the_leaflet_does_not_cover_is_declined() -> None:
    replayed = replay_conversation(["how much does the cream cost?"], _intents({}))
    assert replayed.turn.passage_ids == []
    assert replayed.turn.utter_actions == ["utter_no_answer"]


def _sample() -> List[Dict[str, Any]]:
    """Every 12th tuning message: all kinds, single messages and conversations."""
    return load_labelled("tuning")[::12]


@pytest.mark.server
def test_replay_agrees_with_the_bot_through_its_servers(bot: BotClient) -> None:
    intents: Dict[str, str] = {}

    def intent_of(text: str) -> str:
        if text not in intents:
            parsed = parse_with_server(text, bot.base_url)
            assert parsed, "the Rasa server did not parse the message"
            intents[text] = parsed["intent"]["name"]
        return intents[text]

    disagreements = []
    sample = _sample()
    for n, message in enumerate(sample):
        turns = message.get("turns") or [message["text"]]
        sender = f"replay-{n}-{uuid.uuid4().hex[:8]}"
        for text in turns:
            served = bot.turn(sender, text)
        replayed = replay_conversation(turns, intent_of)
        seen = (served.passage_ids, served.escalated_first, served.declined)
        if seen != (replayed.turn.passage_ids, replayed.turn.escalated_first, replayed.turn.declined):
            disagreements.append((message["id"], seen))
    assert len(sample) > 50
    assert not disagreements
