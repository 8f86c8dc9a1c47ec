"""``make gate``: learn whether to answer a message read in context.

Plays every two-turn conversation of the tuning part of the labelled set
(never the hold-out part) as the bot does, with the trained model's intents
and the gate off, and describes the second message's decision with
``knowledge.gate.gate_features``. A follow-up the leaflet answers is a
positive row, a question in context it does not answer a negative one.
Writes a logistic regression over the standardised features to
``knowledge/answer_gate.json``.

One feature is itself learned: the classifier of ``knowledge.answerable``,
fitted on the passages' authored phrasings, the known unanswerable questions
and these conversations' second messages, written to
``knowledge/answerable.json``. So that the gate learns how far to trust it on
messages it has not seen, the gate's training rows get that feature from
classifiers fitted without their own group of batches (cross-fitting); the
bot uses the classifier fitted on all.

``--cross-validate`` first prints what the gate would do on conversations it
was not fitted on: each group of batches scored by a gate (and an
answerable-classifier, nested) fitted on the others, at several thresholds,
next to the threshold rules alone.

Run it after ``make reranker`` or any change to the index: the gate reads the
scorer's choice and the index's scores.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from sklearn.linear_model import LogisticRegression

from bot.serve import DEFAULT_MODEL
from knowledge import settings
from knowledge.answerable import AnswerableClassifier
from knowledge.embedder import embed
from knowledge.gate import FEATURES, AnswerGate, gate_features, own_vector
from knowledge.index import load_phrasings, load_unanswerable
from tests.support.labelled import load_labelled
from tests.support.replay import intents_from_model, replay_conversation

# Inverse regularisation of the standardised weights (session 11: 0.1 and
# 0.3 scored alike in cross-validation, 1 and 10 gave fewer declines).
GATE_C: float = 0.1
# Inverse regularisation of the answerable-classifier (session 13,
# cross-validated: 0.3, 1 and 3 scored within two messages of each other).
ANSWERABLE_C: float = 1.0
# Groups of batches for cross-validation, each about a ninth of the follow-ups
# (None: the first batch, written before batches were numbered; a batch not
# listed here counts with the first group).
GROUPED_BATCHES: Tuple[Tuple[Optional[int], ...], ...] = (
    (None,),
    (2, 3, 4, 5, 6, 7),
    (8, 9),
    (10, 11),
    (12,),
    (13,),
    (14, 15),
    (16,),
    (17,),
)
# Thresholds the cross-validation reports (the bot's is settings.ANSWER_GATE_THRESHOLD).
SWEEP: Tuple[float, ...] = (0.3, 0.35, 0.4, 0.45, 0.5)
ANSWERABLE_COLUMN: int = FEATURES.index("answerable_classifier")
BATCH_GROUPS: Dict[Optional[int], int] = {b: g for g, group in enumerate(GROUPED_BATCHES) for b in group}


@dataclass
class Row:
    """One conversation's second message, described for the gate.

    Attributes:
        x: Its features.
        answerable: Whether the leaflet answers it (a follow-up).
        passage_right: Whether the scorer's passage is one it expects.
        batch: The batch it was written in.
        vector: The message's own unit vector.
    """

    x: np.ndarray
    answerable: bool
    passage_right: bool
    batch: Optional[int]
    vector: np.ndarray

    @property
    def rules_right(self) -> bool:
        """Whether the threshold rules alone got it right."""
        return _right(self, bool(self.x[FEATURES.index("answered")]))


def rows(messages: Sequence[Dict]) -> List[Row]:
    """Describe the tuning conversations' second messages.

    Args:
        messages: Labelled messages; only two-turn follow-ups and declines are used.

    Returns:
        One row per second message that was read in context and not escalated.
    """
    conversations = [m for m in messages if m.get("turns") and m["kind"] in ("follow_up", "decline")]
    intents = intents_from_model([t for m in conversations for t in m["turns"]], str(DEFAULT_MODEL))
    out = []
    for message in conversations:
        replayed = replay_conversation(message["turns"], intents.__getitem__)
        if replayed.decision is None or replayed.turn.escalated:
            continue
        x = gate_features(replayed.decision, message["turns"][-1])
        if x is None:
            continue
        expect = set(message.get("expect") or [])
        out.append(
            Row(
                x=x,
                answerable=message["kind"] == "follow_up",
                passage_right=replayed.decision.ranking[0].passage.id in expect,
                batch=message.get("batch"),
                vector=own_vector(replayed.decision, message["turns"][-1]),
            )
        )
    return out


def fit(train: Sequence[Row], c: float = GATE_C) -> AnswerGate:
    """Fit the gate on rows.

    Args:
        train: The rows.
        c: Inverse regularisation.

    Returns:
        The gate.
    """
    x = np.array([r.x for r in train])
    y = np.array([r.answerable for r in train], dtype=int)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000).fit((x - mean) / scale, y)
    return AnswerGate(
        mean=mean, scale=scale, weights=model.coef_[0], bias=float(model.intercept_[0]), features=list(FEATURES)
    )


def _right(row: Row, answer: bool) -> bool:
    """Whether answering (or declining) the row is right: the scorer's passage for a follow-up, else a decline."""
    return answer and row.passage_right if row.answerable else not answer


def index_examples() -> Tuple[np.ndarray, np.ndarray]:
    """The answerable-classifier's fixed examples: the authored phrasings (answerable) and the unanswerable questions.

    Returns:
        Their unit vectors and labels (1 answerable, 0 not).
    """
    phrasings = [text for texts in load_phrasings().values() for text in texts]
    unanswerable = load_unanswerable()
    vectors = embed(phrasings + unanswerable)
    return vectors, np.array([1] * len(phrasings) + [0] * len(unanswerable))


def fit_answerable(train: Sequence[Row], fixed: Tuple[np.ndarray, np.ndarray]) -> AnswerableClassifier:
    """Fit the answerable-classifier on the fixed examples and the rows' messages.

    Args:
        train: The rows.
        fixed: ``index_examples()``.

    Returns:
        The classifier.
    """
    x = np.vstack([fixed[0], *[r.vector[None, :] for r in train]])
    y = np.concatenate([fixed[1], [int(r.answerable) for r in train]])
    model = LogisticRegression(C=ANSWERABLE_C, class_weight="balanced", max_iter=3000).fit(x, y)
    return AnswerableClassifier(weights=model.coef_[0], bias=float(model.intercept_[0]), model=settings.MODEL_NAME)


def with_answerable(rows_: Sequence[Row], classifier_of: Callable[[Row], AnswerableClassifier]) -> List[Row]:
    """Copies of the rows with the answerable feature from the classifier ``classifier_of(row)``."""
    out = []
    for r in rows_:
        x = r.x.copy()
        x[ANSWERABLE_COLUMN] = classifier_of(r).probability(r.vector)
        out.append(Row(x=x, answerable=r.answerable, passage_right=r.passage_right, batch=r.batch, vector=r.vector))
    return out


def cross_fitted(train: Sequence[Row], fixed: Tuple[np.ndarray, np.ndarray]) -> List[Row]:
    """The rows with the answerable feature from classifiers fitted without their group of batches."""
    groups = {BATCH_GROUPS.get(r.batch, 0) for r in train}
    by_group = {g: fit_answerable([r for r in train if BATCH_GROUPS.get(r.batch, 0) != g], fixed) for g in groups}
    return with_answerable(train, lambda r: by_group[BATCH_GROUPS.get(r.batch, 0)])


def cross_validate(data: Sequence[Row], fixed: Tuple[np.ndarray, np.ndarray]) -> Dict[float, Tuple[int, int]]:
    """Score gates on groups of batches they were not fitted on.

    For each group, the answerable-classifier and the gate are fitted on the
    other groups only (the gate's rows cross-fitted among those), then score
    the group.

    Args:
        data: The rows.
        fixed: ``index_examples()``.

    Returns:
        For each threshold of ``SWEEP``, the follow-ups and the declines the gate gets right.
    """
    probability = np.zeros(len(data))
    for k in sorted({BATCH_GROUPS.get(r.batch, 0) for r in data}):
        train = [r for r in data if BATCH_GROUPS.get(r.batch, 0) != k]
        gate = fit(cross_fitted(train, fixed))
        classifier = fit_answerable(train, fixed)
        for i, r in enumerate(data):
            if BATCH_GROUPS.get(r.batch, 0) == k:
                x = r.x.copy()
                x[ANSWERABLE_COLUMN] = classifier.probability(r.vector)
                probability[i] = gate.probability(x)
    return {
        t: (
            sum(_right(r, p >= t) for r, p in zip(data, probability, strict=True) if r.answerable),
            sum(_right(r, p >= t) for r, p in zip(data, probability, strict=True) if not r.answerable),
        )
        for t in SWEEP
    }


def main(argv: Optional[List[str]] = None) -> None:
    """Train the gate and write its weights."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cross-validate", action="store_true", help="print cross-validated figures first")
    parser.add_argument("--dry-run", action="store_true", help="do not write the weights")
    args = parser.parse_args(argv)
    if settings.ANSWER_GATE:
        parser.error("train with the gate off: ANSWER_GATE=0 (make gate does)")
    data = rows(load_labelled("tuning"))
    answerable = sum(r.answerable for r in data)
    print(f"{len(data)} second messages read in context: {answerable} follow-ups, {len(data) - answerable} declines")
    fixed = index_examples()
    if args.cross_validate:
        rules = (sum(r.rules_right for r in data if r.answerable), sum(r.rules_right for r in data if not r.answerable))
        print(f"rules alone: follow-ups right {rules[0]}, declines right {rules[1]}")
        for threshold, (follow_ups, declines) in cross_validate(data, fixed).items():
            mark = "  <- settings.ANSWER_GATE_THRESHOLD" if threshold == settings.ANSWER_GATE_THRESHOLD else ""
            print(f"cross-validated, threshold {threshold}: follow-ups right {follow_ups}, declines {declines}{mark}")
    classifier = fit_answerable(data, fixed)
    gate = fit(cross_fitted(data, fixed))
    for name, weight in sorted(zip(FEATURES, gate.weights, strict=True), key=lambda p: -abs(p[1])):
        print(f"  {name:22s} {weight:+.3f}")
    if not args.dry_run:
        settings.ANSWERABLE_CLASSIFIER_PATH.write_text(classifier.to_json(), encoding="utf-8")
        settings.ANSWER_GATE_PATH.write_text(gate.to_json(), encoding="utf-8")
        print(f"wrote {settings.ANSWERABLE_CLASSIFIER_PATH} and {settings.ANSWER_GATE_PATH}")


if __name__ == "__main__":
    main()
