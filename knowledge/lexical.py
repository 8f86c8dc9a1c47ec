"""Word-overlap (BM25) scores of a message against each passage.

The embedding model matches meaning but can miss a plain keyword ("shower",
"moisturiser", "fridge") that a passage or its phrasings share with the
message. BM25 over each passage's text and phrasings gives that signal; the
follow-up scorer (``knowledge.rerank``) weighs it with the dense readings.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Dict, List, Sequence

import numpy as np

# Words that say nothing about which passage answers: function words, and
# the medicine's own names, which every passage is about.
STOP_WORDS = frozenset(
    "a an the i im i'm me my is are was be been do does did can could should would will it its it's this that "
    "these those to of in on for and or with at by from what whats how when why which who you your if so but "
    "not any just about there they them use using used cream imiquimod aldara zyclara".split()
)
_TOKEN = re.compile(r"[a-z0-9']+")
K1: float = 1.5
B: float = 0.75


def tokens(text: str) -> List[str]:
    """Lower-case the text and keep its content words."""
    return [w for w in _TOKEN.findall(text.lower()) if w not in STOP_WORDS]


class LexicalIndex:
    """Okapi BM25 over one document per passage (its text and its phrasings)."""

    def __init__(self, documents: Sequence[str]) -> None:
        """Index the documents.

        Args:
            documents: One text per passage, in passage order.
        """
        self._counts: List[Counter] = [Counter(tokens(d)) for d in documents]
        self._lengths = np.array([sum(c.values()) for c in self._counts], dtype=np.float64)
        self._average = float(self._lengths.mean()) if len(self._lengths) else 0.0
        frequency: Dict[str, int] = Counter(w for c in self._counts for w in c)
        n = len(self._counts)
        self._idf = {w: math.log(1.0 + (n - f + 0.5) / (f + 0.5)) for w, f in frequency.items()}

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of each passage for a query, divided by the best one.

        Args:
            query: The message or question.

        Returns:
            One value per passage in [0, 1]; all 0 when no content word matches.
        """
        out = np.zeros(len(self._counts), dtype=np.float64)
        norm = K1 * (1 - B + B * self._lengths / max(self._average, 1e-9))
        for word in set(tokens(query)):
            idf = self._idf.get(word)
            if idf is None:
                continue
            tf = np.array([c.get(word, 0) for c in self._counts], dtype=np.float64)
            out += idf * tf * (K1 + 1) / (tf + norm)
        best = out.max() if len(out) else 0.0
        return out / best if best > 0 else out
