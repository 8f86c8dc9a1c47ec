"""The red-flag screen: many phrasings, typos and question forms."""

from __future__ import annotations

import pytest

from bot.redflags import canonical_word, mentions_mildness, normalise, screen

URGENT = [
    # severe pain
    "the pain is severe",
    "severe pain where I put the cream",
    "excruciating pain on my arm",
    "it hurts so bad I can't sleep",
    "the burning is unbearable",
    "sevre pain after 2 weeks",
    "I'm in agony with this cream",
    "pain is 9 out of 10",
    "really really sharp pain",
    "is it normal for it to hurt this much? the pain is terrible",
    # blisters
    "I have big blisters",
    "large blisters came up overnight",
    "got huge blistrs on my arm",
    "is it normal to get large blisters?",
    "there are blisers on the spot",
    "bubbles full of fluid on my skin",
    "I've never had blisters like this",
    # fever
    "I have a fever",
    "I have a fevr",
    "i think i have a feaver",
    "should I keep using it with a fever?",
    "I'm shivering and burning up",
    "got the chills since yesterday",
    "running a high temperature",
    "my temperature is 39",
    "feel hot and cold and shivery",
    "flu like symptoms since starting aldara",
    # infection
    "there is pus coming out",
    "there's puss in the sore",
    "the spot is leaking yellow gunk",
    "it looks infected",
    "i think its infekted",
    "not sure if it's infected",
    "red streaks going up my arm",
    "the redness is spreading past the treated area",
    "skin is hot to the touch",
    "the area is hot and swollen",
    "it smells bad",
    "green discharge from the wart",
    # not healing / worse
    "the sore isn't healing",
    "the wound won't heal",
    "it keeps getting worse and worse",
    "it got worse after I stopped the cream",
    "there's an open sore that's not healing",
    "i have doubts about healing",
    # new severe symptoms
    "I have a severe rash",
    "extreme swelling on my leg",
    "it's bleeding a lot",
    "I think I'm having an allergic reaction",
    # an allergy with no mildness in the message still escalates (session 3)
    "am i allergic to aldara? my skin is bright red",
    "i think im allergic to this cream",
    "allergic reaction to zyclara??",
    "could this be an alergic reaction",
    "is it an allergy? the whole area is red and hot",
    "hives all over my body",
    "the skin has turned black",
    "it really hurts to pee after putting it on my warts",
    # skin coming away in sheets (session 4: the classifier alone caught it before)
    "my skin is peeling off in sheets",
    "the skin is coming off in big pieces",
    "skin peeling off in layers since yesterday",
    # a sore that has not closed (wording found missing by the labelled hold-out, session 2)
    "the sore still hasn't closed up weeks after I stopped",
    "the wound is still open a month after finishing",
    "it never closed over",
    "the spot hasnt closed",
    # question forms with red flags
    "what should I do if I get a fever?",
    "can I still use it if there is pus?",
]

EMERGENCY = [
    "I can't breathe",
    "cant breath properly",
    "trouble breathing after applying it",
    "shortness of breath",
    "my throat feels tight",
    "my lips are swelling",
    "my tongue is swollen",
    "my face is swollen",
    "face swelled up badly",
    "my son swallowed some of the cream",
    "my toddler ate the cream",
    "kid licked the cream off",
    "got cream in my eye",
    "I got some of it in my eyes",
    "rubbed my eye after applying and now it stings",
    "she fainted",
]

BENIGN = [
    "i cant close the tube properly",
    "the pharmacy was closed, can I buy it elsewhere",
    "slight redness",
    "my skin is a little red",
    "mild itching",
    "it itches a bit",
    "my skin is flaking",
    "a bit of crusting, is that normal?",
    "scabbing on the treated area",
    "mild burning and stinging",
    "it stings a little",
    "slight swelling",
    "slight swelling on my face where I applied it",
    "my skin got darker",
    "the skin is lighter in colour now",
    "it looks worse than before, is that normal?",
    "what temperature should I store it at",
    "can I store it at room temperature?",
    "can I use it near my eyes",
    "how do I avoid spreading the cream",
    "I've never used it before",
    "can I get the flu shot while using it",
    "I ate lunch before applying it",
    "it's a faint pink",
    "I have no fever",
    "no blisters, just a little red",
    "how do I apply the cream?",
    "can I use sunscreen?",
    "where should I keep it?",
    "how long until results?",
    "is it safe while breastfeeding?",
    "my skin feels a bit tender",
    "the area is slightly warm after I put it on",
    # an allergy worry about an effect the patient calls mild (session 3)
    "slight redness, could i be allergic?",
    "a little itchy and red, is it an allergy or is it working",
    "mild flaking, hoping im not allergic",
    # plain peeling or itching, with or without a greeting: the leaflet's common effects
    "my skin is peeling",
    "hi, my skin is peeling",
    "hello, my skin is itchy",
    # a symptom played down
    "the spot is pink and tender, not really painful",
    "a bit sore but not too bad",
]


@pytest.mark.parametrize("text", URGENT)
def test_urgent_messages_escalate(text: str) -> None:
    result = screen(text)
    assert result.escalate, f"missed escalation: {text!r} -> {result.canonical_text!r}"


@pytest.mark.parametrize("text", EMERGENCY)
def test_emergencies_escalate_as_emergencies(text: str) -> None:
    result = screen(text)
    assert result.escalate and result.emergency, f"{text!r}: {result.explain()}"
    assert result.level == "emergency"


@pytest.mark.parametrize("text", BENIGN)
def test_mild_effects_and_questions_do_not_escalate(text: str) -> None:
    result = screen(text)
    assert not result.escalate, f"false escalation: {text!r}: {result.explain()}"


def test_red_flag_buried_in_a_long_message_escalates() -> None:
    text = (
        "Hi, I started the cream two weeks ago for some warts and mostly it has been fine, a bit red and "
        "itchy like the leaflet says, but since yesterday I have had a fever of 38.5 and I wanted to ask "
        "how I should store the tubes when I go on holiday next week?"
    )
    assert screen(text).escalate


def test_negation_is_scoped_to_its_clause() -> None:
    assert screen("I don't have a fever but there are big blisters").escalate
    assert not screen("I don't have a fever").escalate


def test_uncertainty_is_not_negation() -> None:
    assert screen("I don't know if I have a fever").escalate


def test_typos_map_to_symptom_words_but_common_words_do_not() -> None:
    assert canonical_word("fevr") == "fever"
    assert canonical_word("blistrs") == "blisters"
    assert canonical_word("infektion") == "infection"
    assert canonical_word("never") == "never"
    assert canonical_word("injection") == "injection"


def test_normalise_splits_clauses_and_strips_apostrophes() -> None:
    assert normalise("I can't breathe. Help!") == "i cant breathe | help"


def test_mildness_cancels_an_allergy_worry_but_not_a_severe_allergic_sign() -> None:
    assert not screen("mild redness, worried its an allergy").escalate
    assert screen("i think im allergic, my lips are swelling a little").emergency
    assert screen("slightly allergic, hives all over my body").escalate
    assert screen("im allergic to it and my throat feels tight").emergency


def test_playing_a_symptom_down_counts_as_mildness() -> None:
    assert mentions_mildness("not really painful")
    assert mentions_mildness("it is not too bad")
    assert not mentions_mildness("it is really painful")
    assert not mentions_mildness("not sure, it hurts")


def test_empty_and_non_text_input_is_safe() -> None:
    assert not screen("").escalate
    assert not screen("   ").escalate
    assert not screen("🙂🙂🙂").escalate
