"""Every red-flag path through the real Rasa server, in many phrasings."""

from __future__ import annotations

import uuid

import pytest

from tests.support.botclient import BotClient
from tests.test_redflags import BENIGN, EMERGENCY, URGENT

pytestmark = pytest.mark.server


@pytest.mark.parametrize("text", URGENT + EMERGENCY)
def test_red_flags_escalate_first_through_the_server(bot: BotClient, text: str) -> None:
    turn = bot.turn(f"esc-{uuid.uuid4().hex[:10]}", text)
    assert turn.escalated_first, f"{text!r} -> {turn.utter_actions}"
    assert turn.intent == "report_severe_symptom"


@pytest.mark.parametrize("text", BENIGN)
def test_mild_effects_are_not_escalated_through_the_server(bot: BotClient, text: str) -> None:
    turn = bot.turn(f"ben-{uuid.uuid4().hex[:10]}", text)
    assert not turn.escalated, f"{text!r} -> {turn.utter_actions} {turn.red_flag}"
