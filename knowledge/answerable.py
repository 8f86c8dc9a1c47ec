"""Whether the leaflet answers a message, read from the message's own embedding.

The answer gate (``knowledge.gate``) weighs a message read in context by its
search scores: how close it comes to a passage, to a known unanswerable
question, to the previous question. Those are nearest-neighbour scores, and
a question the leaflet does not answer often sits near a passage on the same
topic ("roughly what percent of people get the itching?" near the side
effects). This classifier has learned from examples which kinds of message
the leaflet answers: a logistic regression from the message's unit vector to
"answerable", fitted on the passages' authored phrasings and the known
unanswerable questions, and on the tuning part of the labelled two-turn
conversations (follow-ups against questions in context the leaflet does not
answer), never the hold-out part. Its probability is one more feature of the
gate; it decides nothing on its own.

The weights are data: ``knowledge/answerable.json``, written with the gate's
by ``make gate`` (``tests/eval/train_gate.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from knowledge import settings


@dataclass(frozen=True)
class AnswerableClassifier:
    """A logistic regression from a unit query vector.

    Attributes:
        weights: One weight per embedding dimension.
        bias: The intercept.
        model: The embedding model the weights were learned on.
    """

    weights: np.ndarray
    bias: float
    model: str

    def probability(self, vector: np.ndarray) -> float:
        """The probability that the leaflet answers the message.

        Args:
            vector: The message's unit vector, shape ``(dim,)``.

        Returns:
            A probability between 0 and 1.
        """
        z = float(self.weights @ np.asarray(vector, dtype=np.float64) + self.bias)
        return float(1.0 / (1.0 + np.exp(-z)))

    def to_json(self) -> str:
        """The file ``from_file`` reads (weights rounded to 6 decimals)."""
        data = {
            "model": self.model,
            "bias": round(float(self.bias), 6),
            "weights": [round(float(w), 6) for w in self.weights],
        }
        return json.dumps(data, separators=(",", ":")) + "\n"

    @classmethod
    def from_file(cls, path: Path) -> AnswerableClassifier:
        """Load weights written by the trainer.

        Args:
            path: The JSON file.

        Returns:
            The classifier.

        Raises:
            ValueError: If the file was learned on another embedding model.
        """
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["model"] != settings.MODEL_NAME:
            raise ValueError(f"{path} was learned on another model; run `make gate`")
        return cls(
            weights=np.array(data["weights"], dtype=np.float64),
            bias=float(data["bias"]),
            model=str(data["model"]),
        )


@lru_cache(maxsize=1)
def get_answerable_classifier() -> AnswerableClassifier:
    """Load the classifier once per process."""
    return AnswerableClassifier.from_file(settings.ANSWERABLE_CLASSIFIER_PATH)
