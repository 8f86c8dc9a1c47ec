"""Passage parsing: verbatim, short, stable, sectioned."""

from __future__ import annotations

import pytest

from knowledge import settings
from knowledge.passages import LayoutError, load_layout, load_passages, parse_leaflet, split_sentences


def test_leaflet_is_the_users_document_verbatim() -> None:
    seed = settings.PROJECT_DIR.parent / "shared" / "seeds" / "000_df475249d4bb266f.txt"
    if not seed.exists():
        pytest.skip("../shared is not beside the checkout")
    assert settings.LEAFLET_PATH.read_bytes() == seed.read_bytes()


def test_every_passage_is_verbatim_leaflet_text() -> None:
    leaflet = settings.LEAFLET_PATH.read_text(encoding="utf-8")
    passages = load_passages()
    assert len(passages) >= 25
    for passage in passages:
        assert passage.text in leaflet, passage.id


def test_passages_are_one_to_three_sentences() -> None:
    for passage in load_passages():
        assert 1 <= len(split_sentences(passage.text)) <= 3, passage.id


def test_passage_ids_are_unique_and_stable() -> None:
    ids = [p.id for p in load_passages()]
    assert len(ids) == len(set(ids))
    assert ids[:3] == ["hair-loss-1", "hair-loss-2", "what-it-is-1"]
    assert "storage-2" in ids and "side-effects-2" in ids


def test_every_prose_sentence_is_in_some_passage() -> None:
    leaflet = settings.LEAFLET_PATH.read_text(encoding="utf-8")
    covered = " ".join(p.text for p in load_passages())
    for line in leaflet.splitlines():
        if line.strip() and line.strip()[-1] in ".?!":
            for sentence in split_sentences(line):
                assert sentence in covered


def test_sections_cover_the_leaflet_topics() -> None:
    titles = {p.title for p in load_passages()}
    for expected in (
        "Imiquimod and hair loss",
        "What imiquimod is",
        "How it works",
        "How to apply it",
        "Side effects and when to act",
        "Managing irritation",
        "Interactions and precautions",
        "After treatment",
        "Quick FAQs",
        "Storage and disposal",
    ):
        assert expected in titles


def test_headings_are_not_passages() -> None:
    texts = [p.text for p in load_passages()]
    assert "Quick FAQs" not in texts
    assert not any(t.startswith("Imiquimod: Topical Immune Treatment") for t in texts)


def test_a_changed_leaflet_fails_loudly() -> None:
    layout = load_layout()
    with pytest.raises(LayoutError):
        parse_leaflet("A brand new paragraph nobody mapped.\n", layout)
    with pytest.raises(LayoutError):
        parse_leaflet("Store imiquimod at room temperature away from heat and light.\n", layout)
