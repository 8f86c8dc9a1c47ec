"""Gloss the names patients use with the words the leaflet uses.

"i'm on tacrolimus" becomes "i'm on tacrolimus (an immune-suppressing drug)"
before it is embedded, so the question finds the leaflet's passage about
immune-suppressing drugs. The names and glosses are reviewable data in
``knowledge/lexicon.yml``; glosses are never shown to patients.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Dict, Pattern, Tuple

import yaml

from knowledge import settings


def load_lexicon(path: Path = settings.LEXICON_PATH) -> Dict[str, str]:
    """Read the lexicon: each term with its class's gloss.

    Args:
        path: The lexicon file.

    Returns:
        Lower-case terms mapped to their gloss.

    Raises:
        ValueError: A term is listed under two classes, or a class has no gloss.
    """
    with path.open(encoding="utf-8") as handle:
        classes = (yaml.safe_load(handle) or {}).get("classes") or {}
    glosses: Dict[str, str] = {}
    for name, entry in classes.items():
        gloss = str(entry.get("gloss") or "").strip()
        if not gloss:
            raise ValueError(f"lexicon class {name!r} has no gloss")
        for term in entry.get("terms") or []:
            key = str(term).strip().lower()
            if key in glosses:
                raise ValueError(f"lexicon term {key!r} is listed twice")
            glosses[key] = gloss
    return glosses


@lru_cache(maxsize=1)
def _compiled() -> Tuple[Pattern[str], Dict[str, str]]:
    """The lexicon and one pattern matching any of its terms, longest first."""
    glosses = load_lexicon()
    terms = sorted(glosses, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, terms)) + r")(?![\w-])", re.IGNORECASE)
    return pattern, glosses


def gloss(text: str) -> str:
    """Follow each lexicon term in a text with its gloss.

    Args:
        text: A query or an indexed text.

    Returns:
        The text with "(gloss)" after each term found; unchanged when none is.
    """
    pattern, glosses = _compiled()
    return pattern.sub(lambda m: f"{m.group(1)} ({glosses[m.group(1).lower()]})", text)
