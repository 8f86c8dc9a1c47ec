"""Choose a follow-up's passage from all its readings with a learned scorer.

A follow-up ("and for bcc?", "is that normal?") is searched several ways:
alone, together with the previous question, the previous question alone,
and, when the follow-up could be rebuilt as a question of its own, that
question. Which reading to trust differs from one follow-up to the next, and
hand-set rules for it did well on the conversations they were tuned on but
less well on new ones. A linear scorer (a conditional logit: softmax over the passages) over each passage's scores in
the readings (and how they relate: its rank, its gap to the best, whether it
was the previous answer, and a passage classifier's view of the whole
exchange, ``knowledge.classifier``) picks the passage instead.

The weights are data: ``knowledge/reranker.json``, written by
``make reranker`` (``tests/eval/train_reranker.py``) from the tuning part of
the labelled follow-up conversations only, never the hold-out part. The
scorer only picks among passages; whether to answer at all (the threshold,
the unanswerable questions, the red-flag screen before all of it) is decided
as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from knowledge import settings
from knowledge.search import Ranking

FEATURE_NAMES: List[str] = [
    "own",
    "pair",
    "previous_alone",
    "pair_gain_over_previous",
    "standalone",
    "best_reading",
    "own_gap_to_best",
    "pair_gap_to_best",
    "standalone_gap_to_best",
    "previous_alone_gap_to_best",
    "own_is_top",
    "pair_is_top",
    "standalone_is_top",
    "was_previous_answer",
    "same_section_as_previous_answer",
    "standalone_if_item_swapped",
    "standalone_if_pointer_resolved",
    "pair_after_statement",
    "own_top_margin",
    "own_top_score",
    "own_by_length",
    "previous_answer_gain",
    "words_own",
    "words_pair",
    "words_standalone",
    "pair_classifier",
]


@dataclass
class Readings:
    """The rankings of one follow-up, read several ways.

    Attributes:
        own: The message alone.
        pair: The previous question followed by the message.
        previous_alone: The previous question alone.
        standalone: The message rebuilt as a question of its own, if it was.
        swapped: Whether the rebuild put the message's item into the previous question.
        resolved: Whether the rebuild replaced a pointer ("they") or attached a statement.
        after_statement: Whether the previous message was a statement, not a question.
        words: How many words the message has.
        lexical_own: BM25 of the message against each passage (passage order), best = 1.
        lexical_pair: The same for the previous question and the message.
        lexical_standalone: The same for the rebuilt question, if any.
        classified: The passage classifier's log-probability of each passage
            (passage order) for the previous question and the message.
    """

    own: Ranking
    pair: Ranking
    previous_alone: Ranking
    standalone: Optional[Ranking] = None
    swapped: bool = False
    resolved: bool = False
    after_statement: bool = False
    words: int = 0
    lexical_own: Optional[np.ndarray] = None
    lexical_pair: Optional[np.ndarray] = None
    lexical_standalone: Optional[np.ndarray] = None
    classified: Optional[np.ndarray] = None


def _scores(ranking: Ranking, order: Sequence[str]) -> np.ndarray:
    by_id = {hit.passage.id: hit.score for hit in ranking.hits}
    return np.array([by_id.get(pid, -1.0) for pid in order], dtype=np.float64)


def _or(values: Optional[np.ndarray], default: np.ndarray) -> np.ndarray:
    return default if values is None else values


def features(readings: Readings, previous_passages: Sequence[str], order: Sequence[str]) -> np.ndarray:
    """Describe every passage by its scores in the readings.

    Args:
        readings: The follow-up's readings.
        previous_passages: The passages given in the last answer.
        order: The passage ids, one row each.

    Returns:
        A ``(len(order), len(FEATURE_NAMES))`` matrix.
    """
    own = _scores(readings.own, order)
    pair = _scores(readings.pair, order)
    alone = _scores(readings.previous_alone, order)
    standalone = _scores(readings.standalone, order) if readings.standalone is not None else own
    zeros = np.zeros(len(order), dtype=np.float64)
    lexical_own = _or(readings.lexical_own, zeros)
    previous = np.array([pid in previous_passages for pid in order], dtype=np.float64)
    sections = {pid.rsplit("-", 1)[0] for pid in previous_passages}
    same_section = np.array([pid.rsplit("-", 1)[0] in sections for pid in order], dtype=np.float64) * (1 - previous)

    def is_top(scores: np.ndarray) -> np.ndarray:
        return (scores == scores.max()).astype(np.float64)

    columns = [
        own,
        pair,
        alone,
        pair - alone,
        standalone,
        np.maximum(np.maximum(own, pair), standalone),
        own - own.max(),
        pair - pair.max(),
        standalone - standalone.max(),
        alone - alone.max(),
        is_top(own),
        is_top(pair),
        is_top(standalone),
        previous,
        same_section,
        standalone * float(readings.swapped),
        standalone * float(readings.resolved),
        pair * float(readings.after_statement),
        is_top(own) * (own.max() - np.sort(own)[-2]),
        is_top(own) * own.max(),
        own * min(readings.words, 20) / 20,
        previous * (pair - alone),
        lexical_own,
        _or(readings.lexical_pair, lexical_own),
        _or(readings.lexical_standalone, lexical_own),
        _or(readings.classified, zeros),
    ]
    return np.stack(columns, axis=1)


@dataclass(frozen=True)
class Reranker:
    """A linear scorer over ``FEATURE_NAMES``.

    Attributes:
        weights: One weight per feature, on the raw (unscaled) features.
        bias: The intercept.
    """

    weights: np.ndarray
    bias: float

    def scores(self, matrix: np.ndarray) -> np.ndarray:
        """Score each row (passage) of a feature matrix; higher is better."""
        return matrix @ self.weights + self.bias

    def choose(self, matrix: np.ndarray) -> int:
        """Return the row of the best-scoring passage."""
        return int(np.argmax(self.scores(matrix)))

    @classmethod
    def from_file(cls, path: Path) -> Reranker:
        """Load weights written by the trainer.

        Args:
            path: The JSON file.

        Returns:
            The scorer.

        Raises:
            ValueError: If the file's features are not ``FEATURE_NAMES``.
        """
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["features"] != FEATURE_NAMES:
            raise ValueError(f"{path} was trained on other features; run `make reranker`")
        return cls(np.array(data["weights"], dtype=np.float64), float(data["bias"]))


@lru_cache(maxsize=1)
def get_reranker() -> Optional[Reranker]:
    """Load the scorer once per process; None when it is switched off."""
    if not settings.RERANK_FOLLOW_UPS:
        return None
    return Reranker.from_file(settings.RERANKER_PATH)
