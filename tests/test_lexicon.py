"""The lexicon glosses patients' names for drugs, diseases, vaccines and procedures."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.answering import decide
from knowledge.lexicon import gloss, load_lexicon


def test_a_known_name_is_followed_by_the_leaflets_words() -> None:
    assert gloss("i'm on Tacrolimus") == "i'm on Tacrolimus (an immune-suppressing drug)"
    assert gloss("got my covid booster last week") == "got my covid booster (a recent vaccination) last week"
    assert gloss("i have ms and lupus") == "i have ms (an autoimmune disease) and lupus (an autoimmune disease)"


def test_the_longest_name_wins_and_only_whole_words_match() -> None:
    assert gloss("chemotherapy") == "chemotherapy (an immune-suppressing drug)"
    assert gloss("mohs surgery next week") == "mohs surgery (a procedure like cryotherapy or surgery) next week"
    # "ms" inside a word, "jab" inside "jabber", and a hyphenated word are left alone.
    assert gloss("these terms") == "these terms"
    assert gloss("stop the jabbering") == "stop the jabbering"
    assert gloss("non-chemo") == "non-chemo"


def test_text_without_a_known_name_is_unchanged() -> None:
    text = "how should I store the cream?"
    assert gloss(text) == text


def test_a_name_listed_under_two_classes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.yml"
    path.write_text(
        "classes:\n  a:\n    gloss: one\n    terms: [tacrolimus]\n  b:\n    gloss: two\n    terms: [Tacrolimus]\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="listed twice"):
        load_lexicon(path)


def test_a_class_without_a_gloss_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.yml"
    path.write_text("classes:\n  a:\n    terms: [tacrolimus]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no gloss"):
        load_lexicon(path)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("i'm on cyclosporine, can i still use zyclara?", {"interactions-2", "interactions-3"}),
        ("does humira matter if i use imiquimod?", {"interactions-2", "interactions-3"}),
        ("i had my shingles jab yesterday, is the cream ok?", {"interactions-2"}),
        ("i'm booked for mohs on that spot, anything to do about the cream?", {"storage-3"}),
        ("can i put efudex on the same spot?", {"managing-irritation-3"}),
    ],
)
def test_glossed_names_find_the_leaflets_passage(question: str, expected: set) -> None:
    decision = decide(question)
    assert decision.answer and decision.answer[0].passage.id in expected, [
        (h.passage.id, round(h.score, 2)) for h in decision.ranking[:3]
    ]
