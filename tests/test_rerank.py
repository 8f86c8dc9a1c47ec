"""The learned follow-up scorer: its data, its features, its weights and what it changes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from knowledge import rerank, settings
from knowledge.answering import decide
from knowledge.classifier import PassageClassifier, get_passage_classifier
from knowledge.lexical import LexicalIndex, tokens
from knowledge.rerank import FEATURE_NAMES, Reranker, features, get_reranker
from knowledge.search import get_knowledge_base
from tests.eval import train_reranker
from tests.support.labelled import holdout_ids, load_labelled
from tests.support.startup import assert_start_refuses


def _second(first: str, second: str, rerank_on: bool, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(settings, "RERANK_FOLLOW_UPS", rerank_on)
    get_reranker.cache_clear()
    try:
        opening = decide(first)
        return decide(second, first, [h.passage.id for h in opening.answer])
    finally:
        get_reranker.cache_clear()


def test_the_scorer_learns_from_the_tuning_part_only() -> None:
    messages = train_reranker.training_messages()
    held = holdout_ids(load_labelled())
    assert len(messages) > 300
    assert all(m["kind"] == "follow_up" for m in messages)
    assert not {m["id"] for m in messages} & held


def test_the_committed_weights_are_what_the_trainer_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Retrain from the tuning conversations, with the scorer off as `make
    # reranker` runs it: the committed files must not be stale or hand-edited.
    monkeypatch.setattr(settings, "RERANK_FOLLOW_UPS", False)
    get_reranker.cache_clear()
    get_passage_classifier.cache_clear()
    try:
        classifier, model = train_reranker.train(train_reranker.examples(train_reranker.training_messages()))
    finally:
        get_reranker.cache_clear()
        get_passage_classifier.cache_clear()
    committed = json.loads(settings.RERANKER_PATH.read_text(encoding="utf-8"))
    assert committed["features"] == FEATURE_NAMES
    np.testing.assert_allclose(committed["weights"], model["weights"], rtol=1e-3, atol=1e-3)
    shipped = PassageClassifier.from_file(settings.PASSAGE_CLASSIFIER_PATH, classifier.passage_ids)
    np.testing.assert_allclose(shipped.weights, classifier.weights, atol=1e-3)
    np.testing.assert_allclose(shipped.bias, classifier.bias, atol=1e-3)


def test_a_classifier_learned_on_other_passages_is_refused(tmp_path) -> None:
    order = list(get_knowledge_base().passages)
    fewer = order[:-1]
    classifier = PassageClassifier(fewer, np.zeros((len(fewer), 4)), np.zeros(len(fewer)), settings.MODEL_NAME)
    path = tmp_path / "passage_classifier.json"
    path.write_text(classifier.to_json(), encoding="utf-8")
    with pytest.raises(ValueError, match="make reranker"):
        PassageClassifier.from_file(path, order)
    assert PassageClassifier.from_file(path, order[:-1]).passage_ids == order[:-1]


def test_the_classifier_reads_the_exchange_as_a_whole() -> None:
    # Its log-probabilities are a distribution over every passage, and the
    # exchange's passage is the likeliest for conversations like the ones it
    # learned from.
    get_passage_classifier.cache_clear()
    classifier = get_passage_classifier()
    assert classifier is not None and classifier is get_passage_classifier()
    kb = get_knowledge_base()
    assert classifier.passage_ids == list(kb.passages)
    for pair, expected in [
        ("how should i store the cream? can it go in the fridge?", "storage-1"),
        ("what are the side effects? which ones are serious?", "side-effects-2"),
        ("can i use it while pregnant? what about breastfeeding?", "side-effects-3"),
    ]:
        log_p = classifier.log_probabilities(kb.search_many([pair])[0].vector)
        assert np.exp(log_p).sum() == pytest.approx(1.0)
        assert classifier.passage_ids[int(np.argmax(log_p))] == expected, pair


def test_a_file_with_other_features_is_refused(tmp_path) -> None:
    path = tmp_path / "reranker.json"
    path.write_text(json.dumps({"features": ["own"], "weights": [1.0], "bias": 0.0}), encoding="utf-8")
    with pytest.raises(ValueError, match="make reranker"):
        Reranker.from_file(path)


def test_features_describe_every_passage() -> None:
    get_passage_classifier.cache_clear()
    kb = get_knowledge_base()
    order = list(kb.passages)
    opening = decide("how should i store the cream?")
    given = [h.passage.id for h in opening.answer]
    decision = decide("and the fridge?", "how should i store the cream?", given)
    assert decision.readings is not None
    matrix = features(decision.readings, given, order)
    assert matrix.shape == (len(order), len(FEATURE_NAMES))
    column = {name: matrix[:, i] for i, name in enumerate(FEATURE_NAMES)}
    assert [order[i] for i in np.flatnonzero(column["was_previous_answer"])] == given
    for name in ("words_own", "words_pair", "words_standalone"):
        assert column[name].min() >= 0 and column[name].max() == pytest.approx(1.0)
    assert order[int(np.argmax(column["words_own"]))] == "storage-1"
    assert column["own_is_top"].sum() >= 1
    # The classifier's feature: log-probabilities, the fridge's passage likeliest.
    assert np.exp(column["pair_classifier"]).sum() == pytest.approx(1.0)
    assert order[int(np.argmax(column["pair_classifier"]))] == "storage-1"


def test_bm25_finds_the_passage_that_shares_a_rare_word() -> None:
    index = LexicalIndex(["keep the tube away from heat, not in the fridge", "wash the area with mild soap"])
    scores = index.scores("can it go in the fridge?")
    assert scores[0] == pytest.approx(1.0) and scores[1] == 0.0
    assert index.scores("what is aldara?").tolist() == [0.0, 0.0]
    assert tokens("Can I use Aldara in the FRIDGE?") == ["fridge"]


def test_the_scorer_reads_a_longer_follow_up_in_context(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ten words: too long for the hand-set follow-up rules, which read it
    # alone and pick the passage about when to contact your provider.
    first = "i got the flu shot last week"
    second = "do i need to tell my dr before starting imiquimod?"
    on = _second(first, second, True, monkeypatch)
    off = _second(first, second, False, monkeypatch)
    assert on.answer and on.answer[0].passage.id == "interactions-2"
    assert off.answer and off.answer[0].passage.id != "interactions-2"


def test_the_scorer_does_not_decide_whether_to_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not covered by the leaflet, after a question it does cover: declined
    # with the scorer on, as without it.
    for rerank_on in (True, False):
        decision = _second("how do i store it?", "is it covered by insurance?", rerank_on, monkeypatch)
        assert not decision.answered, rerank_on


def test_the_scorer_is_loaded_once_per_process() -> None:
    get_reranker.cache_clear()
    assert get_reranker() is get_reranker()
    assert isinstance(get_reranker(), rerank.Reranker)


def test_a_passage_no_reading_found_good_enough_is_never_given(monkeypatch: pytest.MonkeyPatch) -> None:
    # A scorer that prefers the worst passage: its pick scored below the
    # answer threshold in every reading, so the merge's passage stands.
    worst = np.zeros(len(FEATURE_NAMES))
    worst[FEATURE_NAMES.index("best_reading")] = -1.0
    import knowledge.answering as answering

    monkeypatch.setattr(answering, "get_reranker", lambda: Reranker(worst, 0.0))
    first, second = "how should i store the cream?", "can it go in the fridge?"
    picked = decide(second, first, [h.passage.id for h in decide(first).answer])
    monkeypatch.setattr(answering, "get_reranker", lambda: None)
    merged = decide(second, first, [h.passage.id for h in decide(first).answer])
    assert picked.answer and merged.answer
    assert picked.answer[0].passage.id == merged.answer[0].passage.id == "storage-1"
    assert picked.readings is not None


def test_the_action_server_refuses_to_start_with_weights_for_other_passages(tmp_path) -> None:
    # Loaded when the action server imports its action: a stale classifier
    # stops it at start with the fix named, instead of failing each follow-up.
    order = list(get_knowledge_base().passages)
    stale = PassageClassifier(order[1:], np.zeros((len(order) - 1, 4)), np.zeros(len(order) - 1), settings.MODEL_NAME)
    path = tmp_path / "passage_classifier.json"
    path.write_text(stale.to_json(), encoding="utf-8")
    assert_start_refuses("PASSAGE_CLASSIFIER_PATH", path, "make reranker")
