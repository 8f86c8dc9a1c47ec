"""The fix for Rasa's per-call schema check keeps validating action responses."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from bot import patches


def _action() -> RemoteAction:
    patches.apply()
    return RemoteAction("action_answer_question", EndpointConfig("http://127.0.0.1:1/webhook"))


def test_valid_action_responses_pass() -> None:
    response = {"events": [{"event": "slot", "name": "answer_outcome", "value": "answered"}], "responses": []}
    assert _action()._validate_action_result(response) is True


def test_invalid_action_responses_still_fail() -> None:
    with pytest.raises(ValidationError) as error:
        _action()._validate_action_result({"events": "not a list"})
    assert "Failed to validate Action server response" in error.value.message


def test_the_schema_is_compiled_once() -> None:
    _action()._validate_action_result({"events": []})
    _action()._validate_action_result({"events": []})
    assert patches._event_validators.cache_info().hits >= 1


def _whole_schema():
    """Rasa's whole action-response schema, the reference for the per-type check."""
    spec = RemoteAction.action_response_format_spec()
    return validator_for(spec)(spec)


_SLOT = {"event": "slot", "timestamp": None, "name": "answer_outcome", "value": "answered"}
_USER = {
    "event": "user",
    "text": "hi",
    "parse_data": {"intent": {"name": "greet", "confidence": 0.9}, "entities": [], "intent_ranking": []},
}
_BOT = {"event": "bot", "text": "hello", "data": {"buttons": []}, "metadata": {"utter_action": "utter_greet"}}
_RESPONSE = {"text": "Store it at room temperature.", "passage_id": "storage-1", "buttons": [], "custom": {}}
# Responses Rasa's whole schema accepts, and ones it rejects: the per-type check must agree on each.
_CASES = [
    {"events": [_SLOT], "responses": [_RESPONSE, {"response": "utter_disclaimer"}]},
    {"events": [_SLOT, _USER, _BOT, {"event": "action", "name": "action_listen"}, {"event": "restart"}]},
    {"events": [{"event": "followup", "name": "utter_greet"}, {"event": "active_loop", "name": None}]},
    {"events": [{"event": "session_started", "timestamp": 1.5}, {"event": "reset_slots"}]},
    {"events": [{"event": "entities", "entities": [{"entity": "site", "value": "face"}]}]},
    {"responses": []},
    {},
    {"events": "not a list"},
    {"events": [{"name": "answer_outcome", "value": "answered"}]},
    {"events": [{"event": 3}]},
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"event": "slot", "name": "answer_outcome"}]},
    {"events": [{"event": "slot", "name": 7, "value": 1}]},
    {"events": [{"event": "slot", "name": "x", "value": 1, "timestamp": "yesterday"}]},
    {"events": [{**_USER, "parse_data": {"intent": {"name": 5}}}]},
    {"events": [{**_USER, "parse_data": {"entities": [{"entity": "site"}]}}]},
    {"events": [{"event": "entities"}]},
    {"events": [{"event": "action", "name": "x", "hide_rule_turn": "yes"}]},
    {"events": [{"event": "bot", "metadata": "not an object"}]},
    {"events": ["slot"]},
    {"events": [_SLOT], "responses": "nothing"},
    {"events": [_SLOT], "responses": ["text"]},
    [],
    None,
]


@pytest.mark.parametrize("response", _CASES, ids=range(len(_CASES)))
def test_the_per_type_check_agrees_with_rasas_whole_schema(response) -> None:
    whole = _whole_schema()
    try:
        whole.validate(response)
        expected = True
    except ValidationError:
        expected = False
    if expected:
        assert _action()._validate_action_result(response) is True
    else:
        with pytest.raises(ValidationError):
            _action()._validate_action_result(response)


def test_the_cases_cover_both_outcomes() -> None:
    whole = _whole_schema()
    valid = [whole.is_valid(case) for case in _CASES]
    assert valid.count(True) >= 6 and valid.count(False) >= 12


def test_sqlite_connections_use_wal(tmp_path) -> None:
    from sqlalchemy import create_engine, text

    patches.apply()
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def _conversation(turns: int):
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.serve import PROJECT_DIR

    domain = Domain.load(str(PROJECT_DIR / "domain.yml"))
    events = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]
    intents = ["ask_question", "greet", "report_severe_symptom", "out_of_scope", "thank"]
    for i in range(turns):
        intent = intents[i % len(intents)]
        events += [UserUttered(f"message {i}", {"name": intent, "confidence": 0.9})]
        if intent == "report_severe_symptom":
            events += [SlotSet("red_flag_level", "urgent"), ActionExecuted("utter_contact_provider"), BotUttered("!")]
        events += [
            ActionExecuted("action_answer_question"),
            SlotSet("last_question", f"message {i}"),
            SlotSet("answer_outcome", ["answered", "not_found", "out_of_scope"][i % 3]),
            BotUttered("answer"),
            ActionExecuted("action_listen"),
        ]
        if i == turns - 1 and turns % 2:
            events = events[:-1]  # end mid-turn: the action just ran, the next one is being predicted
        elif i == turns - 1:
            events = events[: events.index(events[-5]) + 1] if intent != "report_severe_symptom" else events
    return domain, DialogueStateTracker.from_events("patch-test", events, domain.slots)


@pytest.mark.parametrize("turns", [0, 1, 2, 5, 13])
def test_last_states_are_the_tail_of_rasas_own_states(turns: int) -> None:
    domain, tracker = _conversation(turns)
    every = domain.states_for_tracker_history(tracker)
    for keep in (1, 2, 3, 6, 50):
        assert patches.last_states(domain, tracker, keep) == every[-keep:]


def test_the_rule_policy_predicts_as_before_on_long_conversations() -> None:
    from rasa.core.agent import Agent
    from rasa.core.policies.policy import Policy
    from rasa.core.policies.rule_policy import RulePolicy

    from bot.serve import DEFAULT_MODEL

    agent = Agent.load(str(DEFAULT_MODEL))
    nodes = agent.processor.graph_runner._instantiated_nodes.values()  # type: ignore[union-attr]
    policy = next(n._component for n in nodes if isinstance(n._component, RulePolicy))
    for turns in range(0, 16):
        domain, tracker = _conversation(turns)
        domain = agent.domain
        patched = policy.predict_action_probabilities(tracker, domain)
        original = RulePolicy._prediction_states
        try:
            RulePolicy._prediction_states = Policy._prediction_states  # Rasa's own path
            rasas = policy.predict_action_probabilities(tracker, domain)
        finally:
            RulePolicy._prediction_states = original
        assert patched.probabilities == rasas.probabilities, turns
        assert patched.policy_name == rasas.policy_name
        for use_text in (True, False):
            ours = policy._prediction_states(tracker, domain, use_text)
            full = Policy._prediction_states(policy, tracker, domain, use_text)
            assert len(ours) == min(len(full), policy._longest_rule) >= 4 or len(full) < 4
            assert ours == full[-len(ours) :]
