"""Choose which leaflet passages answer a patient's message.

This is the retrieval half of ``action_answer_question``; it knows nothing
about Rasa, so the inspection command and the evaluation call it too.

A message is searched whole and, when it holds several sentences or
questions, part by part; each passage keeps its best score. A short
follow-up is also searched together with the previous question. The best
passage is the answer when it clears the threshold and no known unanswerable
question matches better; a second passage is added when another question in
the message finds one on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from knowledge import settings
from knowledge.classifier import get_passage_classifier
from knowledge.followup import attach, resolve, rewrite, sluice, topic_of
from knowledge.rerank import Readings, features, get_reranker
from knowledge.search import Hit, KnowledgeBase, Ranking, get_knowledge_base

_QUESTION_WORDS = (
    r"how|what|whats|when|where|why|which|who|can|could|do|does|did|is|are|should|shall|will|would"
    r"|may|might|must|any"
)
_PART_SPLIT = re.compile(
    rf"(?<=[?!.;])\s+|,\s*(?:and\s+|but\s+|also\s+)?(?=(?:{_QUESTION_WORDS})\b)"
    rf"|\s+(?:and|also|plus|&)\s+(?:also\s+)?(?=(?:{_QUESTION_WORDS})\b)",
    re.IGNORECASE,
)
_QUESTION = re.compile(rf"\?|^\s*(?:{_QUESTION_WORDS})\b", re.IGNORECASE)
_FOLLOW_UP_START = re.compile(
    r"^\s*(?:and|also|but|or|so|plus|what about|how about|what if|same for|then|only|even|with|without"
    r"|for|on|in|during|after|before|instead|otherwise|why|really)\b",
    re.IGNORECASE,
)
# Words that point back to the previous question ("why would that happen?").
_ANAPHOR = re.compile(r"\b(?:that|this|those|these|them|they|then|there|one|ones|such)\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9']+")
# A message that only acknowledges ("ok cool", "lol", "thanks!"): it asks
# nothing, so the previous question must not be answered again.
_ACKNOWLEDGEMENT = re.compile(
    r"^\W*(?:(?:ok|okay|k|kk|cool|nice|great|good|fine|sure|right|alright|yes|yeah|yep|no|nope|nah|oh|ah|wow|hmm+|mm+"
    r"|lol|haha+|hehe|thanks|thank you|thx|ty|got it|i see|understood|noted|perfect|awesome|brilliant|ok then"
    r"|makes sense|fair enough)\W*)+$",
    re.IGNORECASE,
)
# A question that only asks what the medicine is ("what is aldara exactly?").
_WHAT_IS_IT = re.compile(
    r"^\s*(?:(?:hi|hello|hey|so|ok|okay)[,!.]?\s+)*(?:what|wat|wht)(?:'s|s|\s+is|\s+exactly\s+is)\s+"
    r"(?:this\s+|the\s+|that\s+)?(?:imiquimod|aldara|zyclara|it|cream|medicine|medication|drug|stuff)"
    r"(?:\s+cream)?(?:\s+exactly)?\s*[?.!]*\s*$",
    re.IGNORECASE,
)


@dataclass
class Decision:
    """What the bot will answer.

    Attributes:
        answer: The passages to give, in order; empty means "I don't have that".
        ranking: The top passages for the message, for inspection.
        follow_up: Whether the previous question's context was used.
        unanswerable_match: The closest known unanswerable question, if it
            decided the decline.
        standalone: The follow-up rewritten as a question of its own, if it
            was ("and for bcc?" -> "how long until it works for bcc?").
        readings: A follow-up's rankings read several ways, which the
            learned scorer picked its passage from.
        gate_probability: For a message read in context, the answer gate's
            probability that it should be answered (``knowledge.gate``).
        rules_answered: Whether the threshold rules answered, before the
            gate had its say.
    """

    answer: List[Hit] = field(default_factory=list)
    ranking: List[Hit] = field(default_factory=list)
    follow_up: bool = False
    unanswerable_match: str = ""
    standalone: str = ""
    readings: Optional[Readings] = None
    gate_probability: Optional[float] = None
    rules_answered: Optional[bool] = None

    @property
    def answered(self) -> bool:
        """Whether at least one passage clears the threshold."""
        return bool(self.answer)


def split_parts(message: str) -> List[str]:
    """Split a message into its sentences and separate questions.

    Args:
        message: The patient's message.

    Returns:
        Parts of at least three words; empty when the message is one part.
    """
    parts = [p.strip() for p in _PART_SPLIT.split(message) if p and p.strip()]
    parts = [p for p in parts if len(_WORD.findall(p)) >= 3]
    return parts if len(parts) > 1 else []


def is_question(part: str) -> bool:
    """Tell whether a part of a message asks something."""
    return bool(_QUESTION.search(part))


def looks_like_follow_up(message: str) -> bool:
    """Tell whether a message leans on the previous question.

    Args:
        message: The patient's message.

    Returns:
        True for short or connective messages ("and for warts?").
    """
    words = _WORD.findall(message)
    return bool(words) and (
        len(words) <= 4
        or (
            len(words) <= settings.FOLLOW_UP_MAX_WORDS
            and bool(_FOLLOW_UP_START.match(message) or _ANAPHOR.search(message))
        )
    )


def unknown_words(message: str, kb: Optional[KnowledgeBase] = None) -> List[str]:
    """List the words of a message's topic that the knowledge base never uses.

    "tell me a joke" gives ["joke"]; "should i worry?" gives none. Together
    with NLU calling a message off-topic, such a word says the message is
    about something else, not a follow-up that leans on the previous question.

    Args:
        message: The patient's message.
        kb: The knowledge base; the process-wide one by default.

    Returns:
        The unknown topic words, in order.
    """
    kb = kb or get_knowledge_base()
    return [w for w in topic_of(message).split() if not kb.knows(w)]


def decide(
    message: str,
    previous_question: Optional[str] = None,
    previous_passages: Sequence[str] = (),
    kb: Optional[KnowledgeBase] = None,
    threshold: float = settings.ANSWER_THRESHOLD,
    context_gain: Optional[float] = None,
) -> Decision:
    """Pick the passages that answer a message.

    Args:
        message: The patient's message.
        previous_question: The last question answered in this conversation.
        previous_passages: The passages given in the last answer.
        kb: The knowledge base; the process-wide one by default.
        threshold: The score the best passage must reach.
        context_gain: If given, the most the previous question may add to
            any passage's score over the message's own reading (for messages
            that are about something else: "tell me a joke" after "how do i
            store it?" must not bring back the storage passage).

    Returns:
        The decision, with the ranking for inspection.
    """
    kb = kb or get_knowledge_base()
    # Any short message may lean on what came before ("can i still use it?"
    # after "i'm pregnant"); its own reading wins unless the context is
    # clearly better, so a change of topic keeps its own answer.
    follow_up = (
        bool(previous_question)
        and 0 < len(_WORD.findall(message)) <= settings.FOLLOW_UP_MAX_WORDS
        and not _ACKNOWLEDGEMENT.match(message)
    )
    previous = str(previous_question)
    # Longer messages are read with the previous question too, for the
    # learned scorer only ("i used imiquimod on that same spot before, does
    # it matter?" after "i'm getting a spot frozen off next month").
    read_in_context = follow_up or (
        bool(previous_question)
        and 0 < len(_WORD.findall(message)) <= settings.RERANK_MAX_WORDS
        and not _ACKNOWLEDGEMENT.match(message)
    )
    # A bare question word ("and how often?") asks the previous question again
    # with it, and a fragment ("and for bcc?") becomes the previous question
    # with its item swapped in: either stands for the message alone. A
    # question of its own that points back ("how long do they last?") gets
    # the previous question's topic.
    swapped = (sluice(message, previous) or rewrite(message, previous)) if follow_up else None
    resolved = resolve(message, previous) if follow_up and not swapped else None
    if follow_up and not swapped and not resolved and is_question(message) and not is_question(previous):
        resolved = attach(message, previous)
    # A question of its own is also read together with the previous question,
    # unless that question only asked what the medicine is: then "it" already
    # says all the context adds, and the pair only drags the answer back to
    # the previous passage ("how do i use it?" after "what is imiquimod?").
    paired = follow_up and not swapped and not _WHAT_IS_IT.match(previous)
    parts = split_parts(message)
    queries = [message, *parts]
    if read_in_context:
        queries += [f"{previous} {message}", previous]
    standalone = swapped or resolved
    if standalone:
        queries.append(standalone)
    rankings = kb.search_many(queries, reuse=[previous] if read_in_context else [])
    own = rankings[0]
    if len(_WORD.findall(message)) >= settings.LONG_MESSAGE_WORDS:
        # A long, rambling message: its question may be drowned in the whole,
        # so each sentence can also stand for it.
        own = _best_of(rankings[: 1 + len(parts)])
    ranking = own
    discount = settings.FOLLOW_UP_CONTEXT_DISCOUNT
    if swapped:
        # The bare item means little on its own.
        ranking = rankings[-1]
    elif paired:
        pair, alone = rankings[1 + len(parts)], rankings[2 + len(parts)]
        in_context = _without(pair, previous_passages, alone)
        if is_question(previous):
            context = _lowered(in_context, discount)
            ranking = _best_of([own, context], context=[context])
        else:
            # After a statement ("i take methotrexate"), the question leans on
            # it ("can i use imiquimod?"): the context reading is preferred.
            ranking = _best_of([_lowered(own, settings.STATEMENT_OWN_DISCOUNT), in_context], context=[in_context])
        if resolved:
            ranking = _best_of([rankings[-1], _lowered(ranking, discount)], context=[rankings[-1]])
    readings = None
    # After "what is imiquimod?" the message is read alone (see ``paired``).
    if read_in_context and (swapped or not _WHAT_IS_IT.match(previous)):
        readings = Readings(
            own=own,
            pair=rankings[1 + len(parts)],
            previous_alone=rankings[2 + len(parts)],
            standalone=rankings[-1] if standalone else None,
            swapped=bool(swapped),
            resolved=bool(resolved),
            after_statement=not is_question(previous),
            words=len(_WORD.findall(message)),
            lexical_own=kb.lexical.scores(message),
            lexical_pair=kb.lexical.scores(f"{previous} {message}"),
            lexical_standalone=kb.lexical.scores(standalone) if standalone else None,
            classified=_classified(rankings[1 + len(parts)]),
        )
    if context_gain is not None and ranking is not own:
        ranking = _capped(ranking, own, context_gain)
    # Whether to answer is decided on the merged ranking; which passage, for
    # a message read in context, by the learned scorer (not for a message
    # NLU called off-topic, whose context is capped above).
    gate = ranking.top
    if readings is not None and context_gain is None:
        ranking = _reranked(ranking, readings, previous_passages, kb)
    decision = Decision(
        ranking=ranking.hits[: settings.SEARCH_TOP_K],
        follow_up=follow_up,
        standalone=standalone or "",
        readings=readings,
    )
    if gate < threshold:
        return decision
    if ranking.unanswerable_score >= gate + settings.UNANSWERABLE_MARGIN:
        decision.unanswerable_match = ranking.unanswerable_match
        return decision
    decision.answer.append(ranking.hits[0])
    if parts:
        _add_second_answer(decision, parts, rankings[1 : 1 + len(parts)])
    return decision


def _add_second_answer(decision: Decision, parts: List[str], rankings: List[Ranking]) -> None:
    """Add the best passage of another question in the message, if it is good enough."""
    candidates = [
        r.hits[0]
        for part, r in zip(parts, rankings, strict=True)
        if is_question(part) and r.hits and r.unanswerable_score < r.top
    ]
    for hit in sorted(candidates, key=lambda h: h.score, reverse=True):
        if hit.score < settings.SECOND_ANSWER_THRESHOLD:
            return
        if all(hit.passage.id != h.passage.id for h in decision.answer):
            decision.answer.append(hit)
            return


def _best_of(rankings: List[Ranking], context: Sequence[Ranking] = ()) -> Ranking:
    """Merge rankings, keeping each passage's best score.

    Args:
        rankings: The readings of the message.
        context: Those of ``rankings`` that read it with the previous
            question. Their closest unanswerable question counts only when
            they found the best passage: "what is it for then?" after "is it
            for cold sores?" must not be declined for the cold-sores question
            the pair matches, while "is it covered by insurance?" after "how
            do i store it?" is still declined for its own.

    Returns:
        The merged ranking.
    """
    best: Dict[str, Hit] = {}
    merged = Ranking()
    for ranking in rankings:
        for hit in ranking.hits:
            if hit.passage.id not in best or hit.score > best[hit.passage.id].score:
                best[hit.passage.id] = hit
    merged.hits = sorted(best.values(), key=lambda h: h.score, reverse=True)
    top = merged.hits[0] if merged.hits else None
    for ranking in rankings:
        if any(ranking is c for c in context) and not any(h is top for h in ranking.hits):
            continue
        if ranking.unanswerable_score > merged.unanswerable_score:
            merged.unanswerable_score = ranking.unanswerable_score
            merged.unanswerable_match = ranking.unanswerable_match
    return merged


def _reranked(ranking: Ranking, readings: Readings, previous_passages: Sequence[str], kb: KnowledgeBase) -> Ranking:
    """Put the learned scorer's passage first.

    Args:
        ranking: The readings merged by the hand-set rules.
        readings: The follow-up's readings.
        previous_passages: The passages given in the last answer.
        kb: The knowledge base (its passage order).

    Returns:
        The ranking with the chosen passage first, scored by its best
        reading of the message (alone, with the previous question, or
        rebuilt); unchanged when the scorer is off or agrees, or when no
        reading of the message scored the chosen passage above the answer
        threshold.
    """
    reranker = get_reranker()
    if reranker is None or not ranking.hits:
        return ranking
    order = list(kb.passages)
    chosen = order[reranker.choose(features(readings, previous_passages, order))]
    if ranking.hits[0].passage.id == chosen:
        return ranking
    own_readings = [readings.own, readings.pair] + ([readings.standalone] if readings.standalone else [])
    best = max((h for r in own_readings for h in r.hits if h.passage.id == chosen), key=lambda h: h.score)
    if best.score < settings.ANSWER_THRESHOLD:
        return ranking
    rest = [h for h in ranking.hits if h.passage.id != chosen]
    return Ranking([best, *rest], ranking.unanswerable_score, ranking.unanswerable_match)


def _classified(pair: Ranking) -> Optional[np.ndarray]:
    """The passage classifier's log-probabilities for the pair reading, when the scorer is on."""
    classifier = get_passage_classifier()
    if classifier is None or pair.vector is None:
        return None
    return classifier.log_probabilities(pair.vector)


def _capped(ranking: Ranking, own: Ranking, gain: float) -> Ranking:
    """Cap every passage's score at its score in the message's own reading plus ``gain``."""
    alone = {h.passage.id: h.score for h in own.hits}
    hits = [Hit(h.passage, min(h.score, alone.get(h.passage.id, -1.0) + gain), h.matched) for h in ranking.hits]
    hits.sort(key=lambda h: h.score, reverse=True)
    unanswerable = min(ranking.unanswerable_score, own.unanswerable_score + gain)
    return Ranking(hits, unanswerable, ranking.unanswerable_match)


def _lowered(ranking: Ranking, by: float) -> Ranking:
    """Lower every passage score of a ranking by the same amount."""
    hits = [Hit(h.passage, h.score - by, h.matched) for h in ranking.hits]
    return Ranking(hits, ranking.unanswerable_score - by, ranking.unanswerable_match)


def _without(in_context: Ranking, previous_passages: Sequence[str], previous: Ranking) -> Ranking:
    """Lower the in-context scores of the passages just given, unless the follow-up is about them too.

    A follow-up usually asks something new: a passage just given keeps its
    in-context score only when adding the follow-up raised it above what the
    previous question alone scored ("when do they get better?" after "what
    side effects can I get?"); otherwise it loses ``REPEAT_PASSAGE_PENALTY``.

    Args:
        in_context: The ranking of the previous question plus the follow-up.
        previous_passages: The passages given in the last answer.
        previous: The ranking of the previous question alone.
    """
    before = {h.passage.id: h.score for h in previous.hits}
    hits = [
        Hit(h.passage, h.score - settings.REPEAT_PASSAGE_PENALTY, h.matched)
        if h.passage.id in previous_passages and h.score <= before.get(h.passage.id, -1.0)
        else h
        for h in in_context.hits
    ]
    hits.sort(key=lambda h: h.score, reverse=True)
    return Ranking(hits, in_context.unanswerable_score, in_context.unanswerable_match)
