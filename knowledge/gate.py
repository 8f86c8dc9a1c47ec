"""Whether to answer a message read in context: a learned second opinion on the threshold.

The threshold rules of ``knowledge.answering`` decide whether to answer from
the scores of one ranking. A message read with the previous question has
more to go on: how well it reads on its own and with the previous question,
how close its own reading comes to a known unanswerable question, whether it
names something the leaflet never mentions, whether it leans on the previous
question at all, how sure the passage classifier is, and what a classifier
of the message's own embedding (``knowledge.answerable``) makes of whether the
leaflet answers it. This gate weighs
those, together with the rules' own verdict, in a logistic regression learned
from the tuning part of the labelled two-turn conversations (follow-ups the
leaflet answers against questions in context it does not), never the
hold-out part. It only decides whether to answer; which passage is answered
stays the follow-up scorer's choice.

The weights are data: ``knowledge/answer_gate.json``, written with the
answerable-classifier's by ``make gate`` (``tests/eval/train_gate.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from knowledge import settings
from knowledge.answerable import get_answerable_classifier
from knowledge.answering import Decision, looks_like_follow_up, unknown_words

# What the gate reads of a decision, in this order.
FEATURES = (
    "answered",
    "own_unanswerable",
    "unknown_words",
    "top",
    "own_top",
    "pair_top",
    "pair_unanswerable",
    "looks_like_follow_up",
    "classifier_max",
    "answerable_classifier",
)


def gate_features(decision: Decision, message: str) -> Optional[np.ndarray]:
    """Describe a decision for the gate.

    Args:
        decision: The threshold rules' decision for the message.
        message: The patient's message.

    Returns:
        One value per name in ``FEATURES``; None when the message was not
        read in context (no previous question, or a long message), which
        the gate leaves to the rules.
    """
    readings = decision.readings
    if readings is None or not decision.ranking:
        return None
    classified = readings.classified
    return np.array(
        [
            float(decision.answered),
            readings.own.unanswerable_score,
            float(bool(unknown_words(message))),
            decision.ranking[0].score,
            readings.own.top,
            readings.pair.top,
            readings.pair.unanswerable_score,
            float(looks_like_follow_up(message)),
            float(np.exp(classified).max()) if classified is not None else 0.0,
            get_answerable_classifier().probability(own_vector(decision, message)),
        ],
        dtype=np.float64,
    )


def own_vector(decision: Decision, message: str) -> np.ndarray:
    """The unit vector of the message alone, from its reading or embedded afresh.

    Args:
        decision: A decision with readings.
        message: The patient's message.

    Returns:
        The vector, shape ``(dim,)``.
    """
    vector = decision.readings.own.vector if decision.readings is not None else None
    if vector is None:
        from knowledge.embedder import embed_one

        vector = embed_one(message)
    return vector


@dataclass(frozen=True)
class AnswerGate:
    """A logistic regression over standardised ``FEATURES``.

    Attributes:
        mean: The training rows' mean of each feature.
        scale: Their standard deviation.
        weights: One weight per standardised feature.
        bias: The intercept.
        features: The feature names the weights were learned on.
    """

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    features: List[str]

    def probability(self, x: np.ndarray) -> float:
        """The probability that the message should be answered."""
        z = float(((x - self.mean) / self.scale) @ self.weights + self.bias)
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> str:
        """The file ``from_file`` reads (rounded to 6 decimals)."""
        data = {
            "features": self.features,
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "weights": [round(float(v), 6) for v in self.weights],
            "bias": round(float(self.bias), 6),
        }
        return json.dumps(data, indent=1) + "\n"

    @classmethod
    def from_file(cls, path: Path, features: Sequence[str] = FEATURES) -> AnswerGate:
        """Load weights written by the trainer.

        Args:
            path: The JSON file.
            features: The features this code computes.

        Returns:
            The gate.

        Raises:
            ValueError: If the file was learned on other features.
        """
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["features"] != list(features):
            raise ValueError(f"{path} was learned on other features; run `make gate`")
        return cls(
            mean=np.array(data["mean"], dtype=np.float64),
            scale=np.array(data["scale"], dtype=np.float64),
            weights=np.array(data["weights"], dtype=np.float64),
            bias=float(data["bias"]),
            features=list(data["features"]),
        )


@lru_cache(maxsize=1)
def get_answer_gate() -> Optional[AnswerGate]:
    """Load the gate once per process; None when it is switched off (``ANSWER_GATE=0``)."""
    if not settings.ANSWER_GATE:
        return None
    return AnswerGate.from_file(settings.ANSWER_GATE_PATH)


def gated(decision: Decision, message: str, may_answer: bool = True) -> Decision:
    """Let the gate overrule the threshold rules for a message read in context.

    Args:
        decision: The rules' decision (changed in place).
        message: The patient's message.
        may_answer: Whether the gate may answer a message the rules
            declined. False for a message NLU called off-topic that names
            something the leaflet never mentions ("tell me a joke"): its
            context was capped so that it is not answered from the previous
            question, and the gate must not undo that.

    Returns:
        The decision: answered with the scorer's passage when the gate says
        answer, declined when it says decline, unchanged when the message
        was not read in context or the gate is off.
    """
    gate = get_answer_gate()
    x = gate_features(decision, message) if gate is not None else None
    if gate is None or x is None:
        return decision
    decision.gate_probability = gate.probability(x)
    decision.rules_answered = decision.answered
    if decision.gate_probability >= settings.ANSWER_GATE_THRESHOLD:
        if not decision.answered and may_answer:
            decision.answer = [decision.ranking[0]]
            decision.unanswerable_match = ""
    else:
        decision.answer = []
    return decision
