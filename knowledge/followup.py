"""Rewrite an elliptical follow-up into a standalone question.

"and for bcc?" after "how long until it works for warts?" means "how long
until it works for bcc?". Searching the two messages glued together lets the
previous question's own topic ("warts") win; putting the new item in the old
item's place asks what the patient meant. A fragment is a short message with
no question or verb of its own once its connective ("and", "what about",
"same for") is removed. Its item replaces the previous question's item of the
same kind (a condition, a place on the body, a time, something else put on
the skin or taken, a group of people); with no item of the same kind, the
fragment is added to the end of the previous question.

The rewrite knows nothing about the leaflet's answers: it only rebuilds the
question, and the search decides.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

# Kinds of item a follow-up swaps in, as regular expressions matched on word
# boundaries. Longer names come first in each list so "basal cell carcinoma"
# is found before "carcinoma", and "before applying" before "before".
ITEM_KINDS: Dict[str, Tuple[str, ...]] = {
    "condition": (
        "superficial basal cell carcinoma",
        "basal cell carcinoma",
        "basal cell cancer",
        "actinic keratoses",
        "actinic keratosis",
        "solar keratosis",
        "genital warts",
        "skin cancers",
        "skin cancer",
        "keratosis",
        "carcinoma",
        "cancer",
        "bcc",
        "sbcc",
        "aks",
        "ak",
        "warts",
        "wart",
    ),
    "site": (
        "genital area",
        "genitals",
        "eyelids",
        "eyelid",
        "eyes",
        "eye",
        "lips",
        "lip",
        "mouth",
        "nose",
        "face",
        "scalp",
        "neck",
        "chest",
        "arms",
        "arm",
        "legs",
        "leg",
        "hands",
        "hand",
        "back",
        "ears",
        "ear",
        "cuts",
        "open cuts",
        "wounds",
    ),
    "time": (
        r"(?:before|after) \w+ing(?: it)?(?: on)?",
        "afterwards",
        "after",
        "before",
        "during",
        "beforehand",
        "at night",
        "in the morning",
        "once im finished",
        "once i'm finished",
        "when i'm done",
        "when im done",
    ),
    "substance": (
        "other medicines",
        "other medications",
        "other drugs",
        "other creams",
        "other cream",
        "steroid cream",
        "steroids",
        "steroid",
        "immune suppressants",
        "immunosuppressants",
        "vaccines",
        "vaccine",
        "vaccination",
        "vaccinations",
        "sunscreen",
        "sun cream",
        "moisturiser",
        "moisturizer",
        "makeup",
        "make-up",
        "alcohol",
        "antibiotics",
        "medicines",
        "medications",
        "drugs",
        "creams",
        "cream",
        "lotion",
    ),
    "people": (
        "pregnant",
        "pregnancy",
        "breastfeeding",
        "breast feeding",
        "nursing",
        "children",
        "kids",
        "kid",
        "child",
        "elderly",
        "transplant",
    ),
}
_CONNECTIVE = re.compile(
    r"^\s*(?:(?:and|also|but|or|so|plus|then)\s+)*"
    r"(?:what about|how about|same for|same with|same goes for|same on|even|only|also|and|or)?\s*",
    re.IGNORECASE,
)
# A fragment has none of these: it is a bare item ("the lips", "for bcc").
_CLAUSE = re.compile(
    r"\b(?:how|what|whats|when|where|why|which|who|can|could|do|does|did|is|are|was|were|should|shall"
    r"|will|would|may|might|must|have|has|had|use|using|used|need|get|gets|got|go|goes|take|put|apply"
    r"|work|works|happen|happens|mean|means|keep|stop|help|helps|cause|causes)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z0-9']+")
FRAGMENT_MAX_WORDS = 6


def fragment_of(message: str) -> Optional[str]:
    """Return the bare item a follow-up names, or None when it is a question of its own.

    Args:
        message: The patient's message.

    Returns:
        The message without its connective and punctuation ("for bcc"), when
        it has at most ``FRAGMENT_MAX_WORDS`` words and no clause of its own.
    """
    rest = _CONNECTIVE.sub("", message, count=1).strip(" ?!.,")
    words = _WORD.findall(rest)
    if not words or len(words) > FRAGMENT_MAX_WORDS or _CLAUSE.search(rest):
        return None
    return rest


def _items(text: str) -> List[Tuple[str, int, int]]:
    """Find the known items in a text: (kind, start, end), first match per place."""
    found: List[Tuple[str, int, int]] = []
    taken: List[Tuple[int, int]] = []
    for kind, names in ITEM_KINDS.items():
        for name in names:
            for match in re.finditer(rf"\b(?:{name})\b", text, re.IGNORECASE):
                start, end = match.span()
                if any(start < e and s < end for s, e in taken):
                    continue
                taken.append((start, end))
                found.append((kind, start, end))
    return sorted(found, key=lambda item: item[1])


def rewrite(message: str, previous_question: str) -> Optional[str]:
    """Rebuild an elliptical follow-up as a standalone question, by swapping its item in.

    Args:
        message: The follow-up ("what about near my eyes?").
        previous_question: The question it follows ("can i use it on my face?").

    Returns:
        The standalone question ("can i use it on my eyes?"), or None when
        the message is not a fragment or names nothing of a kind the previous
        question has (the caller then searches the two together).
    """
    fragment = fragment_of(message)
    if fragment is None:
        return None
    previous_items = _items(previous_question)
    for kind, start, end in _items(fragment):
        same = [(s, e) for k, s, e in previous_items if k == kind]
        if same:
            old_start, old_end = same[-1]
            return f"{previous_question[:old_start]}{fragment[start:end]}{previous_question[old_end:]}"
    return None
