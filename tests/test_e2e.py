"""End to end over REST against the real Rasa server and action server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator, Tuple

import pytest

from tests.support.botclient import BotClient
from tests.support.servers import RunningBot, start_bot

pytestmark = pytest.mark.server

ESCALATION_START = "Stop using the cream and contact your provider"


def _sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}"


def test_greeting_offers_topic_buttons_and_the_disclaimer(bot: BotClient) -> None:
    turn = bot.turn(_sender(), "hello")
    assert turn.utter_actions == ["utter_greet", "utter_disclaimer"]
    buttons = turn.replies[0]["buttons"]
    assert len(buttons) >= 4
    assert all(len(b["payload"].encode()) <= 64 for b in buttons)
    assert "not a substitute for your prescriber" in turn.texts[1]


def test_telegram_start_command_gets_the_greeting(bot: BotClient) -> None:
    assert bot.turn(_sender(), "/start").utter_actions[0] == "utter_greet"


def test_a_leaflet_question_is_answered_with_its_section(bot: BotClient) -> None:
    turn = bot.turn(_sender(), "how should I store the cream?")
    assert turn.passage_ids == ["storage-1"]
    assert turn.texts[0].startswith("Store imiquimod at room temperature away from heat and light.")
    assert 'section "Storage and disposal"' in turn.texts[0]
    assert turn.utter_actions[-1] == "utter_disclaimer"


def test_the_disclaimer_is_shown_once_per_conversation(bot: BotClient) -> None:
    turns = bot.conversation(["hi", "how should I store it?", "can I use sunscreen?", "thanks"])
    shown = sum(t.utter_actions.count("utter_disclaimer") for t in turns)
    assert shown == 1


def test_escalation_comes_first_then_the_rest_is_answered(bot: BotClient) -> None:
    turn = bot.turn(_sender(), "I have a fevr, and how should I store the cream?")
    assert turn.escalated_first
    assert turn.texts[0].startswith(ESCALATION_START)
    assert turn.passage_ids == ["storage-1"]
    assert turn.intent == "report_severe_symptom"


def test_emergency_says_call_emergency_services(bot: BotClient) -> None:
    turn = bot.turn(_sender(), "my little boy swallowed some of the cream")
    assert turn.escalated_first
    assert turn.texts[0].startswith(ESCALATION_START)
    assert "emergency services now" in turn.texts[0]
    assert turn.red_flag["level"] == "emergency"


def test_urgent_escalation_is_not_worded_as_an_emergency(bot: BotClient) -> None:
    turn = bot.turn(_sender(), "big blisters on the treated spot")
    assert turn.escalated_first
    assert "emergency services now" not in turn.texts[0]


def test_an_unknown_question_gets_an_honest_decline(bot: BotClient) -> None:
    turn = bot.turn(_sender(), "can I drink alcohol while using imiquimod?")
    assert turn.utter_actions == ["utter_no_answer"]
    assert not turn.passage_ids
    assert "don't have that" in turn.texts[0]


def test_off_topic_is_declined(bot: BotClient) -> None:
    turn = bot.turn(_sender(), "tell me a joke about cats")
    assert turn.utter_actions == ["utter_out_of_scope"]


def test_a_follow_up_is_answered_in_context(bot: BotClient) -> None:
    first, second = bot.conversation(["how should I store the cream?", "and how do I get rid of old tubes?"])
    assert first.passage_ids == ["storage-1"]
    assert second.passage_ids == ["storage-2"]


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        # a pronoun pointing back, read with the previous question's topic
        ("is redness normal?", "how long will it last?", ("side-effects-1",)),
        # an item swapped into the previous question
        ("how long until it works for warts?", "and for bcc?", ("after-treatment-3",)),
        # a statement with no question, then a question that leans on it
        ("i'm pregnant", "can i still use the cream?", ("side-effects-3",)),
        # a drug the model does not know, glossed by the lexicon; both passages
        # fit (immune-suppressing drugs: tell your prescriber; powerful immune
        # modulators: your doctor will talk through safer options), as the
        # labelled set's conversations about such drugs accept either
        ("i'm on tacrolimus", "can i still use zyclara?", ("interactions-2", "interactions-3")),
        # a continuation of the previous question
        ("what are the warning signs?", "and what do i do then?", ("side-effects-2",)),
        # a short question the intent classifier takes for chit-chat
        ("how often do i put it on?", "every day?", ("how-to-apply-2",)),
        # a bare question word asks the previous question again
        ("how much should i put on?", "and how often?", ("how-to-apply-2",)),
        # a longer follow-up the threshold rules decline and the answer gate answers
        ("is aldara effective", "anything i should do to make sure it goes well?", ("when-to-contact-2",)),
        # a second thing to do, added to the previous question
        ("do i wash before applying?", "and dry it too?", ("how-to-apply-1",)),
    ],
)
def test_follow_ups_of_every_kind_through_the_server(
    bot: BotClient, first: str, second: str, expected: Tuple[str, ...]
) -> None:
    _, turn = bot.conversation([first, second])
    assert turn.passage_ids[:1] and turn.passage_ids[0] in expected, turn.utter_actions


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("how do i store it?", "tell me a joke"),
        ("how do i store it?", "ok cool"),
        ("how do i store it?", "do you like music?"),
        ("what are the side effects?", "what's your name?"),
        ("how long until it works?", "hmm"),
        ("can i use it on my face?", "lol"),
    ],
)
def test_an_off_topic_second_turn_does_not_get_the_previous_answer_again(
    bot: BotClient, first: str, second: str
) -> None:
    answered, turn = bot.conversation([first, second])
    assert answered.passage_ids, first
    assert not turn.passage_ids, (first, second, turn.passage_ids)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("does it cause hair loss?", "will my hair grow back afterwards?"),
        ("what are the side effects?", "can i put self tanner on the patches?"),
        ("is it for basal cell carcinoma?", "how does that compare with mohs surgery, does it come back more often?"),
        ("how do i store it?", "can my wife use my tube too?"),
        ("what side effects are common?", "what percent of patients get them?"),
        ("how long until aldara works on my warts", "is it 16 weeks then?"),
        # a detail the leaflet does not give, which the rules answered and the answer gate declines
        ("how do i store it", "is the tube aluminium or plastic?"),
    ],
)
def test_a_question_the_leaflet_does_not_cover_is_declined_in_context(bot: BotClient, first: str, second: str) -> None:
    # The previous question's topic matches a passage well; the second turn
    # asks what that passage does not say, so the honest reply is a decline.
    answered, turn = bot.conversation([first, second])
    assert answered.passage_ids, first
    assert turn.declined and not turn.passage_ids, (first, second, turn.passage_ids)


@pytest.mark.parametrize("text", ["im losing hair", "hello, my skin is itchy", "hi, my skin is peeling"])
def test_a_symptom_the_classifier_doubts_is_searched_not_greeted(bot: BotClient, text: str) -> None:
    turn = bot.turn(_sender(), text)
    assert "utter_greet" not in turn.utter_actions and not turn.escalated, (text, turn.utter_actions)
    assert turn.passage_ids, (text, turn.utter_actions)


def test_real_chit_chat_still_gets_its_reply(bot: BotClient) -> None:
    for text, reply in (
        ("hello there", "utter_greet"),
        ("thanks a lot", "utter_you_are_welcome"),
        ("bye", "utter_goodbye"),
    ):
        assert bot.turn(_sender(), text).utter_actions[:1] == [reply], text


def test_bot_challenge_says_it_is_not_a_clinician(bot: BotClient) -> None:
    turn = bot.turn(_sender(), "am I talking to a real doctor?")
    assert turn.utter_actions == ["utter_iamabot"]
    assert "not a clinician" in turn.texts[0]


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"message": "hi"}', b'{"sender": "x"}', b'{"sender": "x", "message": 5}'],
)
def test_bad_input_gets_a_clear_400(running_bot: RunningBot, body: bytes) -> None:
    request = urllib.request.Request(f"{running_bot.url}/webhooks/rest/webhook", data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=30)
    assert error.value.code == 400
    assert "error" in json.loads(error.value.read())


def test_empty_and_huge_messages_get_bounded_replies(bot: BotClient) -> None:
    sender = _sender()
    assert bot.send(sender, "   ")[0]["text"].startswith("Please type your question")
    huge = "how do I store the cream? " * 3000 + " and I have big blisters"
    replies = bot.send(sender, huge)
    assert replies[0]["text"].startswith(ESCALATION_START)
    assert "first 2000 characters" in replies[-1]["text"]


def test_patient_text_is_not_logged_at_info(bot: BotClient, running_bot: RunningBot) -> None:
    marker = f"zebra{uuid.uuid4().hex[:8]}"
    bot.turn(_sender(), f"how should I store the cream {marker}?")
    bot.turn(_sender(), f"I have a fever {marker}")
    assert marker not in running_bot.log()


def test_conversations_are_stored_in_sqlite(bot: BotClient, running_bot: RunningBot) -> None:
    sender = _sender()
    bot.turn(sender, "how should I store the cream?")
    assert (running_bot.data_dir / "tracker.db").exists()
    texts = [e.get("text") for e in bot.tracker_events(sender) if e.get("event") == "user"]
    assert texts == ["how should I store the cream?"]


@pytest.fixture(scope="module")
def rasa_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    """The Rasa server alone: the action server is not running."""
    log = Path(__file__).resolve().parent.parent / "test-artifacts" / "rasa-only.log"
    log.parent.mkdir(exist_ok=True)
    bot = start_bot(tmp_path_factory.mktemp("rasa-only"), log, with_actions=False)
    yield bot
    bot.stop()


@pytest.mark.parametrize(
    "text",
    [
        "I have a high fever",
        "huge blisters, is that normal?",
        "my face and lips are swelling",
        "there's pus and it smells",
        "the sore won't heal and is getting worse",
        "cant breath",
    ],
)
def test_escalation_works_with_the_action_server_down(rasa_only: RunningBot, text: str) -> None:
    client = BotClient(rasa_only.url)
    turn = client.turn(_sender(), text)
    assert turn.escalated_first, text
    assert turn.texts[0].startswith(ESCALATION_START)


def test_conversation_survives_a_restart(rasa_only: RunningBot) -> None:
    client = BotClient(rasa_only.url)
    sender = _sender()
    client.turn(sender, "I have a fever")
    assert rasa_only.stop() == 0
    restarted = start_bot(rasa_only.data_dir, rasa_only.log_path, with_actions=False, rasa_port=rasa_only.rasa_port)
    try:
        events = BotClient(restarted.url).tracker_events(sender)
        assert [e.get("text") for e in events if e.get("event") == "user"] == ["I have a fever"]
        assert any((e.get("metadata") or {}).get("utter_action") == "utter_contact_provider" for e in events)
    finally:
        rasa_only.process = restarted.process
