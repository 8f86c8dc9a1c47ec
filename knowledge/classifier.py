"""Which passage a follow-up asks for, read from the embedding of the whole exchange.

The follow-up scorer (``knowledge.rerank``) weighs each passage by how well
the follow-up's readings match its rows. Those are nearest-neighbour scores:
they know nothing of how patients' two-message exchanges map to passages.
This classifier does: a multinomial logistic regression from the embedding
of "previous question + follow-up" to the passage, learned from the passages'
own index rows (their text and authored phrasings) and the tuning part of
the labelled follow-up conversations, never the hold-out part. Its
log-probability for each passage is one more feature of the scorer; it
decides nothing on its own.

The weights are data: ``knowledge/passage_classifier.json``, written with the
scorer's by ``make reranker`` (``tests/eval/train_reranker.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from knowledge import settings
from knowledge.search import get_knowledge_base


@dataclass(frozen=True)
class PassageClassifier:
    """A softmax over passages from a unit query vector.

    Attributes:
        passage_ids: The passages, in the knowledge base's order.
        weights: One row of weights per passage, shape ``(passages, dim)``.
        bias: One intercept per passage.
        model: The embedding model the weights were learned on.
    """

    passage_ids: List[str]
    weights: np.ndarray
    bias: np.ndarray
    model: str

    def log_probabilities(self, vector: np.ndarray) -> np.ndarray:
        """Log-probability of each passage for one query vector.

        Args:
            vector: A unit query vector, shape ``(dim,)``.

        Returns:
            One value per passage, in ``passage_ids`` order.
        """
        logits = self.weights @ np.asarray(vector, dtype=np.float64) + self.bias
        logits -= logits.max()
        return logits - np.log(np.exp(logits).sum())

    def to_json(self) -> str:
        """The file ``from_file`` reads (weights rounded to 6 decimals)."""
        data = {
            "model": self.model,
            "passages": self.passage_ids,
            "bias": [round(float(b), 6) for b in self.bias],
            "weights": [[round(float(w), 6) for w in row] for row in self.weights],
        }
        return json.dumps(data, separators=(",", ":")) + "\n"

    @classmethod
    def from_file(cls, path: Path, passage_ids: Sequence[str]) -> PassageClassifier:
        """Load weights written by the trainer.

        Args:
            path: The JSON file.
            passage_ids: The knowledge base's passages, in order.

        Returns:
            The classifier.

        Raises:
            ValueError: If the file was learned on other passages or another model.
        """
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["passages"] != list(passage_ids) or data["model"] != settings.MODEL_NAME:
            raise ValueError(f"{path} was learned on other passages or another model; run `make reranker`")
        return cls(
            passage_ids=list(data["passages"]),
            weights=np.array(data["weights"], dtype=np.float64),
            bias=np.array(data["bias"], dtype=np.float64),
            model=str(data["model"]),
        )


@lru_cache(maxsize=1)
def get_passage_classifier() -> Optional[PassageClassifier]:
    """Load the classifier once per process; None when the follow-up scorer is off."""
    if not settings.RERANK_FOLLOW_UPS:
        return None
    return PassageClassifier.from_file(settings.PASSAGE_CLASSIFIER_PATH, list(get_knowledge_base().passages))
