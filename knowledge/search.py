"""Semantic search over the leaflet's passages.

The index and the model are loaded once per process, on first use.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from knowledge import index as index_store
from knowledge import settings
from knowledge.lexical import LexicalIndex
from knowledge.passages import Passage

logger = logging.getLogger(__name__)
_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class Hit:
    """A passage and how well it matches a query.

    Attributes:
        passage: The passage.
        score: Cosine similarity of the query to the passage's best row
            (its own text or one of its authored phrasings), less the
            passage's hubness correction (see ``hubness``).
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
        vector: The query's unit vector, when the ranking came from a search.
    """

    hits: List[Hit] = field(default_factory=list)
    unanswerable_score: float = -1.0
    unanswerable_match: str = ""
    vector: Optional[np.ndarray] = None

    @property
    def top(self) -> float:
        """The best passage score, or -1 when there is none."""
        return self.hits[0].score if self.hits else -1.0


class KnowledgeBase:
    """Passages, their index and the search over them.

    Attributes:
        lexical: BM25 over each passage's text and phrasings, in passage order.
    """

    def __init__(self, loaded: index_store.LoadedIndex) -> None:
        """Wrap a loaded index.

        Args:
            loaded: The index and its metadata.
        """
        self._loaded = loaded
        order = {pid: i for i, pid in enumerate(loaded.passages)}
        self._row_passage = np.array([order.get(r.passage_id, -1) for r in loaded.rows], dtype=np.int64)
        self._passages: List[Passage] = list(loaded.passages.values())
        self._hub_penalty = settings.HUBNESS_WEIGHT * hubness(loaded, self._row_passage, len(self._passages))
        documents: Dict[str, List[str]] = {pid: [] for pid in loaded.passages}
        for row in loaded.rows:
            if row.passage_id in documents:
                documents[row.passage_id].append(row.text)
        # The words of the leaflet and its phrasings; a word only a known
        # unanswerable question uses ("alcohol", "name") is still unknown.
        self._vocabulary = frozenset(
            w for texts in documents.values() for text in texts for w in _WORD.findall(text.lower())
        )
        self.lexical = LexicalIndex([" ".join(texts) for texts in documents.values()])

    @property
    def passages(self) -> Dict[str, Passage]:
        """Return the passages by id, in leaflet order."""
        return self._loaded.passages

    def knows(self, word: str) -> bool:
        """Tell whether a word, or its stem, occurs in the leaflet or its phrasings.

        Args:
            word: One word ("rubs").

        Returns:
            True when the word or a plain stem of it ("rub") is indexed text.
        """
        word = word.lower()
        stems = {word, word[:-1] if word.endswith("s") else word, word[:-2] if word.endswith(("es", "ed")) else word}
        if word.endswith("ing"):
            stems.update({word[:-3], word[:-3] + "e"})
        return any(stem in self._vocabulary for stem in stems)

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
        for vector, row_scores, row_ids in zip(vectors, scores, ids, strict=True):
            valid = row_ids >= 0
            row_scores, row_ids = row_scores[valid], row_ids[valid]
            # Rows come best first, so each passage's first row is its best.
            passage_of_row = self._row_passage[row_ids]
            _, first = np.unique(passage_of_row, return_index=True)
            ranking = Ranking(vector=vector)
            for position in np.sort(first):
                row = int(row_ids[position])
                passage_index = int(passage_of_row[position])
                score = float(row_scores[position])
                if passage_index < 0:  # the best known unanswerable question
                    ranking.unanswerable_score = score
                    ranking.unanswerable_match = self._loaded.rows[row].text
                else:
                    score -= float(self._hub_penalty[passage_index])
                    ranking.hits.append(Hit(self._passages[passage_index], score, self._loaded.rows[row].text))
            ranking.hits.sort(key=lambda hit: hit.score, reverse=True)
            rankings.append(ranking)
        return rankings

    def passage_rows(self) -> Tuple[np.ndarray, List[str]]:
        """The vectors of the index's passage and phrasing rows, and each row's passage id.

        Returns:
            A ``(rows, dim)`` float64 array and the passage ids, row by row
            (known unanswerable questions are left out).
        """
        keep = [i for i, row in enumerate(self._loaded.rows) if row.passage_id]
        vectors = self._loaded.index.reconstruct_n(0, self._loaded.index.ntotal)[keep]
        return vectors.astype(np.float64), [self._loaded.rows[i].passage_id for i in keep]

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


def hubness(loaded: index_store.LoadedIndex, row_passage: np.ndarray, n_passages: int) -> np.ndarray:
    """Measure how much each passage attracts questions written for other passages.

    Some passages ("Imiquimod works well for many people, but safe use and
    good follow-up matter.") are near any vague question: hubs, in the
    embedding-retrieval sense. A passage's hubness is the mean of its
    ``HUBNESS_NEIGHBOURS`` best similarities to the authored phrasings of
    the other passages, centred on the mean over passages; ranking subtracts
    ``HUBNESS_WEIGHT`` times it (as CSLS does for cross-lingual retrieval).

    Args:
        loaded: The index and its row metadata.
        row_passage: Each row's passage number, -1 for unanswerable questions.
        n_passages: How many passages there are.

    Returns:
        One centred hubness value per passage, in passage order.
    """
    vectors = loaded.index.reconstruct_n(0, loaded.index.ntotal)
    phrasing = np.array([row.kind == "phrasing" for row in loaded.rows]) & (row_passage >= 0)
    values = np.zeros(n_passages, dtype=np.float64)
    for number in range(n_passages):
        others = phrasing & (row_passage != number)
        mine = row_passage == number
        if not others.any() or not mine.any():
            continue
        best = (vectors[others] @ vectors[mine].T).max(axis=1)
        values[number] = float(np.sort(best)[-settings.HUBNESS_NEIGHBOURS :].mean())
    return values - values.mean()


@lru_cache(maxsize=1)
def get_knowledge_base() -> KnowledgeBase:
    """Load (or rebuild) the index once per process and return the knowledge base."""
    return KnowledgeBase(index_store.load_or_build())
