"""The learned answer gate: what it reads, what it changes, and its weights."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, List

import numpy as np
import pytest

from knowledge import settings
from knowledge.answerable import AnswerableClassifier, get_answerable_classifier
from knowledge.answering import decide
from knowledge.embedder import embed_one
from knowledge.gate import FEATURES, AnswerGate, gate_features, gated, get_answer_gate
from tests.eval import train_gate
from tests.support.labelled import load_labelled
from tests.support.replay import decide_second_turn, replay_conversation
from tests.support.startup import assert_start_refuses


@pytest.fixture
def gate_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The threshold rules alone, as ``make gate`` trains."""
    monkeypatch.setattr(settings, "ANSWER_GATE", False)
    get_answer_gate.cache_clear()
    yield
    get_answer_gate.cache_clear()


def _passages(turns: List[str]) -> List[str]:
    return replay_conversation(turns, lambda _text: "ask_question").turn.passage_ids


def test_a_message_without_context_is_left_to_the_rules() -> None:
    decision = decide("how should i store the cream?")
    assert gate_features(decision, "how should i store the cream?") is None
    answer = list(decision.answer)
    assert gated(decision, "how should i store the cream?").answer == answer


def test_features_describe_a_message_read_in_context() -> None:
    first = decide("how should i store the cream?")
    decision = decide("and in the fridge?", "how should i store the cream?", [h.passage.id for h in first.answer])
    x = gate_features(decision, "and in the fridge?")
    assert x is not None and x.shape == (len(FEATURES),)
    assert x[FEATURES.index("answered")] == float(decision.answered)
    assert x[FEATURES.index("looks_like_follow_up")] == 1.0


CONVERSATIONS = {
    # a longer follow-up that the threshold rules decline
    "follow_up": ["is aldara effective", "anything i should do to make sure it goes well?"],
    # a number inside a covered topic that the leaflet does not give
    "decline": ["How long is a typical treatment course?", "is it 16 weeks for warts?"],
}


def test_the_gate_answers_a_follow_up_the_rules_declined(gate_off: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _passages(CONVERSATIONS["follow_up"]) == []
    monkeypatch.setattr(settings, "ANSWER_GATE", True)
    get_answer_gate.cache_clear()
    assert _passages(CONVERSATIONS["follow_up"])[:1] == ["when-to-contact-2"]


def test_the_gate_declines_a_detail_the_rules_answered(gate_off: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _passages(CONVERSATIONS["decline"]) != []
    monkeypatch.setattr(settings, "ANSWER_GATE", True)
    get_answer_gate.cache_clear()
    assert _passages(CONVERSATIONS["decline"]) == []


def test_the_gate_may_be_kept_from_answering_what_the_rules_declined() -> None:
    # As for an off-topic message whose context was capped ("tell me a joke"):
    # the gate's verdict is recorded, the rules' decline stands.
    decision, _ = decide_second_turn(CONVERSATIONS["follow_up"])
    assert not decision.answered
    assert gated(decision, CONVERSATIONS["follow_up"][1], may_answer=False).answer == []
    assert decision.gate_probability is not None and decision.gate_probability >= settings.ANSWER_GATE_THRESHOLD


def test_a_gate_learned_on_other_features_is_refused(tmp_path: Path) -> None:
    gate = AnswerGate(np.zeros(2), np.ones(2), np.zeros(2), 0.0, ["answered", "top"])
    path = tmp_path / "answer_gate.json"
    path.write_text(gate.to_json(), encoding="utf-8")
    with pytest.raises(ValueError, match="make gate"):
        AnswerGate.from_file(path)
    assert AnswerGate.from_file(path, ["answered", "top"]).features == ["answered", "top"]


def test_the_gate_probability_follows_its_weights() -> None:
    gate = AnswerGate(np.zeros(1), np.ones(1), np.array([2.0]), 0.0, ["answered"])
    assert gate.probability(np.array([0.0])) == pytest.approx(0.5)
    assert gate.probability(np.array([3.0])) > 0.99 > 0.01 > gate.probability(np.array([-3.0]))


def test_the_action_server_refuses_to_start_with_a_gate_for_other_features(tmp_path: Path) -> None:
    stale = AnswerGate(np.zeros(2), np.ones(2), np.zeros(2), 0.0, ["answered", "top"])
    path = tmp_path / "answer_gate.json"
    path.write_text(stale.to_json(), encoding="utf-8")
    assert_start_refuses("ANSWER_GATE_PATH", path, "make gate")


def test_the_gate_learns_from_the_tuning_part_only() -> None:
    # The trainer reads load_labelled("tuning"); the hold-out's conversations
    # must not be among them.
    tuning = {m["id"] for m in load_labelled("tuning")}
    holdout = {m["id"] for m in load_labelled("holdout")}
    assert tuning and holdout and not tuning & holdout


@pytest.mark.server  # needs the trained Rasa model, as the server tests do
def test_the_committed_gate_is_what_the_trainer_writes(gate_off: None) -> None:
    data = train_gate.rows(load_labelled("tuning"))
    fixed = train_gate.index_examples()
    classifier = train_gate.fit_answerable(data, fixed)
    shipped_classifier = AnswerableClassifier.from_file(settings.ANSWERABLE_CLASSIFIER_PATH)
    np.testing.assert_allclose(shipped_classifier.weights, classifier.weights, atol=1e-3)
    assert shipped_classifier.bias == pytest.approx(classifier.bias, abs=1e-3)
    gate = train_gate.fit(train_gate.cross_fitted(data, fixed))
    shipped = AnswerGate.from_file(settings.ANSWER_GATE_PATH)
    np.testing.assert_allclose(shipped.weights, gate.weights, atol=1e-3)
    np.testing.assert_allclose(shipped.mean, gate.mean, atol=1e-3)
    np.testing.assert_allclose(shipped.scale, gate.scale, atol=1e-3)
    assert shipped.bias == pytest.approx(gate.bias, abs=1e-3)


def test_the_answerable_classifier_tells_leaflet_questions_from_others() -> None:
    classifier = get_answerable_classifier()
    answered = ["how should i store the cream?", "do i wash it off in the morning?", "is redness normal?"]
    unanswered = ["how much does a tube cost?", "can my dog use it?", "what is the capital of france?"]
    low = min(classifier.probability(embed_one(q)) for q in answered)
    high = max(classifier.probability(embed_one(q)) for q in unanswered)
    assert low > 0.5 > high


def test_the_answerable_classifier_refuses_weights_for_another_model(tmp_path: Path) -> None:
    path = tmp_path / "answerable.json"
    path.write_text('{"model": "another-model", "bias": 0.0, "weights": [0.0]}', encoding="utf-8")
    with pytest.raises(ValueError, match="another model"):
        AnswerableClassifier.from_file(path)
