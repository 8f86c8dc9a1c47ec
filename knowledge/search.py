"""Semantic search over the leaflet's passages.

The index and the model are loaded once per process, on first use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Dict, List, Sequence

import numpy as np

from knowledge import index as index_store
from knowledge.passages import Passage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hit:
    """A passage and how well it matches a query.

    Attributes:
        passage: The passage.
        score: Cosine similarity of the query to the passage's best row
            (its own text or one of its authored phrasings).
        matched: The text of that best row.
    """

    passage: Passage
    score: float
    matched: str


@dataclass
class Ranking:
    """Every passage ranked for one query.

    Attributes:
        hits: All passages, best first.
        unanswerable_score: Best score of a known unanswerable question.
        unanswerable_match: That question.
    """

    hits: List[Hit] = field(default_factory=list)
    unanswerable_score: float = -1.0
    unanswerable_match: str = ""

    @property
    def top(self) -> float:
        """The best passage score, or -1 when there is none."""
        return self.hits[0].score if self.hits else -1.0


class KnowledgeBase:
    """Passages, their index and the search over them."""

    def __init__(self, loaded: index_store.LoadedIndex) -> None:
        """Wrap a loaded index.

        Args:
            loaded: The index and its metadata.
        """
        self._loaded = loaded
        order = {pid: i for i, pid in enumerate(loaded.passages)}
        self._row_passage = np.array([order.get(r.passage_id, -1) for r in loaded.rows], dtype=np.int64)
        self._passages: List[Passage] = list(loaded.passages.values())

    @property
    def passages(self) -> Dict[str, Passage]:
        """Return the passages by id, in leaflet order."""
        return self._loaded.passages

    def rank_vectors(self, vectors: np.ndarray) -> List[Ranking]:
        """Rank every passage for each query vector.

        Args:
            vectors: Unit query vectors, shape ``(n, dim)``.

        Returns:
            For each query, every passage ranked by its best row's score.
        """
        total = self._loaded.index.ntotal
        scores, ids = self._loaded.index.search(np.ascontiguousarray(vectors, dtype=np.float32), total)
        rankings: List[Ranking] = []
        for row_scores, row_ids in zip(scores, ids, strict=True):
            valid = row_ids >= 0
            row_scores, row_ids = row_scores[valid], row_ids[valid]
            # Rows come best first, so each passage's first row is its best.
            passage_of_row = self._row_passage[row_ids]
            _, first = np.unique(passage_of_row, return_index=True)
            ranking = Ranking()
            for position in np.sort(first):
                row = int(row_ids[position])
                passage_index = int(passage_of_row[position])
                score = float(row_scores[position])
                if passage_index < 0:  # the best known unanswerable question
                    ranking.unanswerable_score = score
                    ranking.unanswerable_match = self._loaded.rows[row].text
                else:
                    ranking.hits.append(Hit(self._passages[passage_index], score, self._loaded.rows[row].text))
            rankings.append(ranking)
        return rankings

    def search_many(self, queries: Sequence[str], reuse: Sequence[str] = ()) -> List[Ranking]:
        """Rank every passage for each query, embedding all queries at once.

        Args:
            queries: The queries.
            reuse: Queries that were embedded recently in this process (the
                previous question of a follow-up); their vectors are reused
                when still remembered.

        Returns:
            One ranking per query.
        """
        from knowledge.embedder import embed, recent_vector

        known = {q: v for q in reuse if (v := recent_vector(q)) is not None}
        fresh = [q for q in queries if q not in known]
        vectors = dict(zip(fresh, embed(fresh), strict=True)) if fresh else {}
        vectors.update(known)
        return self.rank_vectors(np.stack([vectors[q] for q in queries]))

    def search(self, query: str, k: int = 5) -> List[Hit]:
        """Return the ``k`` best passages for a query, with cosine scores.

        Args:
            query: The question.
            k: How many passages to return.

        Returns:
            Hits, best first.
        """
        return self.search_many([query])[0].hits[:k]


@lru_cache(maxsize=1)
def get_knowledge_base() -> KnowledgeBase:
    """Load (or rebuild) the index once per process and return the knowledge base."""
    return KnowledgeBase(index_store.load_or_build())
