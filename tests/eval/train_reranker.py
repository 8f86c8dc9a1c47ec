"""``make reranker``: learn how to pick a follow-up's passage from its readings.

Trains the conditional logit of ``knowledge.rerank`` on the follow-up
conversations of the tuning part of the labelled set (never the hold-out
part) and writes ``knowledge/reranker.json``. Each conversation is played as
the action server plays it: the first message is decided, the question it
leaves in context is the previous question of the second, and every passage
of the second message's readings is one example, positive when it is one of
the conversation's expected passages.

``--cross-validate`` first prints leave-one-batch-out accuracy: each batch of
conversations scored by a scorer trained on the other batches, next to what
the hand-set merge of the readings picks. A new batch is the closest thing
to the conversations the bot will meet, so that is the figure to decide on.

One feature is itself learned: the passage classifier of
``knowledge.classifier``, fitted on the passages' index rows and the tuning
follow-ups, written to ``knowledge/passage_classifier.json``. So that the
scorer learns how far to trust it on conversations it was not fitted on, the
scorer's training rows get that feature from classifiers fitted without
their own batch (cross-fitting); the bot uses the classifier fitted on all.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression

from knowledge import settings
from knowledge.classifier import PassageClassifier
from knowledge.rerank import FEATURE_NAMES, features
from knowledge.search import get_knowledge_base
from tests.support.labelled import load_labelled
from tests.support.replay import decide_second_turn

# Ridge penalty on the standardised weights; leave-one-batch-out accuracy
# was flat from 0.01 to 5 (session 7).
L2_PENALTY: float = 0.1
# Inverse regularisation of the passage classifier; leave-one-batch-out
# accuracy was 541 (C=1), 545 (C=10), 542 (C=100) of 575 in a first trial,
# and 538-540 whether the rows were all the index's, only its phrasings or
# the authored phrasings alone (session 9; 529 without the classifier).
CLASSIFIER_C: float = 10.0


@dataclass
class Example:
    """One follow-up conversation as training rows.

    Attributes:
        message_id: The labelled message's id.
        batch: The batch it was written in.
        matrix: One feature row per passage.
        labels: 1 for each expected passage, else 0.
        answered: Whether the bot answers the second message at all.
        merged_right: Whether the hand-set merge's top passage is expected.
        pair_vector: The embedding of the previous question and the message.
    """

    message_id: str
    batch: int
    matrix: np.ndarray
    labels: np.ndarray
    answered: bool
    merged_right: bool
    pair_vector: np.ndarray


def training_messages() -> List[Dict[str, Any]]:
    """The follow-up conversations the scorer learns from: the tuning part only."""
    return [m for m in load_labelled("tuning") if m["kind"] == "follow_up"]


def examples(messages: Sequence[Dict[str, Any]]) -> List[Example]:
    """Play each follow-up conversation through retrieval and describe its second message.

    Args:
        messages: Labelled messages; only the follow-ups are used.

    Returns:
        One example per follow-up whose second message was read as one.
    """
    order = list(get_knowledge_base().passages)
    out: List[Example] = []
    for message in messages:
        if message["kind"] != "follow_up":
            continue
        decision, given = decide_second_turn(message["turns"])
        if decision.readings is None:
            continue
        expected = set(message["expect"])
        labels = np.array([pid in expected for pid in order], dtype=np.float64)
        merged_top = decision.ranking[0].passage.id if decision.ranking else None
        out.append(
            Example(
                message_id=message["id"],
                batch=int(message.get("batch", 1)),
                matrix=features(decision.readings, given, order),
                labels=labels,
                answered=decision.answered,
                merged_right=merged_top in expected,
                pair_vector=np.asarray(decision.readings.pair.vector, dtype=np.float64),
            )
        )
    return out


def fit_classifier(train: Sequence[Example], rows: Tuple[np.ndarray, List[str]]) -> PassageClassifier:
    """Fit the passage classifier on the index's rows and the conversations' pairs.

    Args:
        train: The follow-up conversations (each labelled with its first expected passage).
        rows: The index's passage and phrasing rows (``KnowledgeBase.passage_rows``).

    Returns:
        The classifier, over every passage in the knowledge base's order.
    """
    order = list(get_knowledge_base().passages)
    vectors = np.vstack([rows[0], *[e.pair_vector[None] for e in train]])
    labels = rows[1] + [order[int(np.flatnonzero(e.labels)[0])] for e in train]
    model = LogisticRegression(C=CLASSIFIER_C, max_iter=5000).fit(vectors, labels)
    # A passage with no training row (none today) gets a probability of about e^-30.
    weights, bias = np.zeros((len(order), vectors.shape[1])), np.full(len(order), -30.0)
    for row, pid in enumerate(model.classes_):
        weights[order.index(pid)], bias[order.index(pid)] = model.coef_[row], model.intercept_[row]
    return PassageClassifier(order, weights, bias, settings.MODEL_NAME)


def with_classifier(
    examples_: Sequence[Example], classifier_of: Callable[[Example], PassageClassifier]
) -> List[Example]:
    """Set each example's classifier feature from the classifier ``classifier_of(example)``."""
    column = FEATURE_NAMES.index("pair_classifier")
    out = []
    for e in examples_:
        matrix = e.matrix.copy()
        matrix[:, column] = classifier_of(e).log_probabilities(e.pair_vector)
        out.append(replace(e, matrix=matrix))
    return out


def cross_fitted(train: Sequence[Example], rows: Tuple[np.ndarray, List[str]]) -> List[Example]:
    """The examples with the classifier feature from classifiers fitted without their batch."""
    by_batch = {b: fit_classifier([e for e in train if e.batch != b], rows) for b in sorted({e.batch for e in train})}
    return with_classifier(train, lambda e: by_batch[e.batch])


def fit(train: Sequence[Example], l2: float = L2_PENALTY) -> Dict[str, Any]:
    """Fit the scorer: a conditional logit over each conversation's passages.

    The probability of a passage is the softmax of its score over all
    passages of the same message; training maximises the probability given
    to the expected passages, which is the choice the scorer makes at run
    time. Features are standardised for fitting, and the scaling is folded
    into the written weights.

    Args:
        train: The examples.
        l2: The ridge penalty on the standardised weights.

    Returns:
        ``{"features", "weights", "bias"}`` for ``knowledge.rerank.Reranker``.
    """
    stacked = np.vstack([e.matrix for e in train])
    mean, scale = stacked.mean(axis=0), stacked.std(axis=0)
    scale[scale == 0] = 1.0
    groups = [((e.matrix - mean) / scale, e.labels) for e in train]

    def loss(weights: np.ndarray) -> Tuple[float, np.ndarray]:
        total, gradient = l2 * float(weights @ weights), 2 * l2 * weights
        for z, labels in groups:
            logits = z @ weights
            p = np.exp(logits - logits.max())
            p /= p.sum()
            p_expected = float((p * labels).sum())
            total -= np.log(p_expected + 1e-12)
            gradient = gradient - z.T @ (p * labels / (p_expected + 1e-12) - p)
        return total, gradient

    start = np.zeros(stacked.shape[1])
    # Run to a tight optimum, so a retrain (the staleness test) gives the same weights.
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"ftol": 1e-13, "gtol": 1e-8, "maxiter": 5000})
    weights = result.x / scale
    return {"features": FEATURE_NAMES, "weights": [round(float(w), 6) for w in weights], "bias": 0.0}


def chosen_right(example: Example, model: Dict[str, Any]) -> bool:
    """Whether the scorer's passage is an expected one (and the bot answers)."""
    scores = example.matrix @ np.array(model["weights"]) + model["bias"]
    return example.answered and bool(example.labels[int(np.argmax(scores))])


def cross_validate(data: Sequence[Example], l2: float = L2_PENALTY) -> List[Dict[str, Any]]:
    """Score each batch with a scorer trained on the other batches.

    Returns:
        Per batch: its size, the learned scorer's right count and the hand-set merge's.
    """
    rows = []
    index = get_knowledge_base().passage_rows()
    for batch in sorted({e.batch for e in data}):
        train = [e for e in data if e.batch != batch]
        classifier = fit_classifier(train, index)
        held = with_classifier([e for e in data if e.batch == batch], lambda e, c=classifier: c)
        model = fit(cross_fitted(train, index), l2)
        rows.append(
            {
                "batch": batch,
                "n": len(held),
                "learned": sum(chosen_right(e, model) for e in held),
                "merged": sum(e.answered and e.merged_right for e in held),
            }
        )
    return rows


def train(data: Sequence[Example], l2: float = L2_PENALTY) -> Tuple[PassageClassifier, Dict[str, Any]]:
    """Fit the passage classifier on all the examples, and the scorer on cross-fitted ones.

    Args:
        data: The tuning follow-ups, from :func:`examples`.
        l2: The scorer's ridge penalty.

    Returns:
        The classifier the bot uses and the scorer's weights.
    """
    index = get_knowledge_base().passage_rows()
    return fit_classifier(data, index), fit(cross_fitted(data, index), l2)


def main(argv: Optional[List[str]] = None) -> None:
    """Train on the tuning follow-ups and write the weights."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cross-validate", action="store_true", help="print leave-one-batch-out accuracy first")
    parser.add_argument("--l2", type=float, default=L2_PENALTY, help="ridge penalty on the standardised weights")
    parser.add_argument("--dry-run", action="store_true", help="do not write the weights")
    args = parser.parse_args(argv)
    data = examples(training_messages())
    if args.cross_validate:
        rows = cross_validate(data, args.l2)
        for row in rows:
            print(
                f"batch {row['batch']:>2}: {row['n']:>3} follow-ups, "
                f"learned {row['learned']:>3}, merged {row['merged']:>3}"
            )
        learned, merged, n = (sum(r[k] for r in rows) for k in ("learned", "merged", "n"))
        print(f"leave-one-batch-out: learned {learned}/{n}, hand-set merge {merged}/{n} (merge tuned on all batches)")
    classifier, model = train(data, args.l2)
    right = sum(chosen_right(e, model) for e in with_classifier(data, lambda e: classifier))
    print(f"trained on {len(data)} tuning follow-ups; right on them: {right}/{len(data)}")
    if not args.dry_run:
        settings.PASSAGE_CLASSIFIER_PATH.write_text(classifier.to_json(), encoding="utf-8")
        settings.RERANKER_PATH.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {settings.PASSAGE_CLASSIFIER_PATH} and {settings.RERANKER_PATH}")


if __name__ == "__main__":
    main()
