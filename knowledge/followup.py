"""Rewrite an elliptical follow-up into a standalone question.

"and for bcc?" after "how long until it works for warts?" means "how long
until it works for bcc?". Searching the two messages glued together lets the
previous question's own topic ("warts") win; putting the new item in the old
item's place asks what the patient meant. A fragment is a short message with
no question or verb of its own once its connective ("and", "what about",
"same for") is removed, or a "when/if" clause ("and after the treatment is
over?"). Its item replaces the previous question's item of the same kind (a
condition, a place on the body, a time, something else put on the skin or
taken, a group of people, where the tube is kept); an item of no known kind replaces the previous
question's last item; otherwise the fragment is added to the end of the
previous question.

A bare question word ("how often?", "why not?", "when exactly?") asks the
previous question again with that word (``sluice``): "how often?" after "how
much should i put on?" means "how often should i put on?".

A question of its own that points back ("how long do they last?") has the
pointer replaced by the previous question's topic instead (``resolve``).

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
        "squamous cell carcinoma",
        "melanoma",
        "sun damage",
        "sun spots",
        "age spots",
        "moles",
        "mole",
        "cold sores",
        "herpes",
        "hpv",
        "psoriasis",
        "eczema",
        "acne",
        "rosacea",
        "scc",
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
        "open cuts",
        "cuts",
        "wounds",
        "forehead",
        "cheeks",
        "cheek",
        "chin",
        "temples",
        "shoulders",
        "shoulder",
        "feet",
        "foot",
        "fingers",
        "finger",
        "penis",
        "vulva",
        "anus",
        "anal area",
        "groin",
        "thighs",
        "thigh",
        "skin folds",
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
        "overnight",
        "at bedtime",
        "before bed",
        "in the evening",
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
        "petroleum jelly",
        "vaseline",
        "aloe vera",
        "bandages",
        "bandage",
        "plasters",
        "plaster",
        "dressings",
        "dressing",
        "painkillers",
        "ibuprofen",
        "paracetamol",
        "antihistamines",
        "birth control",
        "blood thinners",
    ),
    "people": (
        "childrens",
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
    # Where the tube is kept; after "substance" so "sun cream" is not "sun".
    "environment": (
        "room temperature",
        "direct sunlight",
        "sunlight",
        "sun",
        "heat",
        "light",
        "cold",
        "humidity",
        "fridge",
        "freezer",
        "bathroom",
        "car",
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
# "and after the treatment is over?": a clause that only says when or on what
# condition, added to the previous question.
_SUBORDINATE = re.compile(r"(?:before|after|once|when|while|during|until|till|if)\b", re.IGNORECASE)
_CONNECTIVE_START = re.compile(r"^\s*(?:and|or|but|also|plus)\b", re.IGNORECASE)
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
    if not words or len(words) > FRAGMENT_MAX_WORDS:
        return None
    if _CLAUSE.search(rest) and not (_SUBORDINATE.match(rest) and _CONNECTIVE_START.match(message)):
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
        the message is not a fragment.
    """
    fragment = fragment_of(message)
    if fragment is None:
        return None
    previous_items = _items(previous_question)
    new_items = _items(fragment)
    for kind, start, end in new_items:
        same = [(s, e) for k, s, e in previous_items if k == kind]
        if same:
            old_start, old_end = same[-1]
            return f"{previous_question[:old_start]}{fragment[start:end]}{previous_question[old_end:]}"
    if not new_items and _OBJECT_PRONOUN.search(fragment):
        # "and dry it too?" after "do i wash before applying?": a verb phrase
        # with its object, a second thing to do, not an item to swap.
        return f"{previous_question.rstrip(' ?!.')} and {fragment}"
    if not new_items and previous_items and not _PLACE.match(fragment):
        # "and autoimmune disease?": an item of no known kind takes the place
        # of the previous question's last item. A place ("even on the treated
        # spot?" after "can i use sunscreen?") is added instead.
        _, old_start, old_end = previous_items[-1]
        return f"{previous_question[:old_start]}{fragment}{previous_question[old_end:]}"
    # "where do i keep it?" + "and once im finished with it?": the fragment
    # adds to the previous question.
    return f"{previous_question.rstrip(' ?!.')} {fragment}"


# A fragment that says where ("on the treated spot", "under a bandage").
_PLACE = re.compile(r"^(?:on|in|near|around|under|over|inside|at|onto|into)\b", re.IGNORECASE)
# An object pronoun marks a verb phrase ("dry it too"), not a bare item.
_OBJECT_PRONOUN = re.compile(r"\b(?:it|them)\b", re.IGNORECASE)
# A bare question word standing for the previous question ("how often?",
# "why not?", "and when exactly?", "with what?").
_SLUICE = re.compile(
    r"^\s*(?:(?:and|so|but|then|ok|okay)\s+)*"
    r"(?P<wh>why(?P<negated> not)?|how come|how so|how often|(?:for )?how long(?: for)?|how much|how soon"
    r"|(?:after |for )?how many (?:times|days|weeks|hours|months|minutes)(?: (?:a|per) (?:day|week))?"
    r"|when|where|with what|what with|which ones?|what for)"
    r"(?:\s+(?:exactly|then|though|tho|is that|is it|would that be|was that|does that happen|would that happen"
    r"|is that so|does it do that|would it do that))*\s*[?!.]*\s*$",
    re.IGNORECASE,
)
# The question word that opens a previous question, replaced by the new one.
_LEADING_WH = re.compile(
    r"^\s*(?:how (?:often|long|much|soon|many \w+)|when|where|why|what|which|how)\b\s*", re.IGNORECASE
)
# "can i use …" -> "can i not use …", for "why not?".
_LEADING_AUX = re.compile(r"^\s*(can|could|should|do|does|is|are|will|would|must|may)\s+(\w+)\b", re.IGNORECASE)


def sluice(message: str, previous_question: str) -> Optional[str]:
    """Ask the previous question again with a follow-up's bare question word.

    Args:
        message: The follow-up ("and how often?", "why not?").
        previous_question: The question it follows ("how much should i put on?").

    Returns:
        The standalone question ("how often should i put on"), or None when
        the message is more than a question word.
    """
    match = _SLUICE.match(message)
    if not match:
        return None
    clause = _LEADING_WH.sub("", previous_question, count=1).strip(" ?!.")
    if not clause:
        return None
    wh = match.group("wh").lower()
    if match.group("negated"):
        # "why not?" after "can i use other creams?": "why can i not use other creams".
        negated, count = _LEADING_AUX.subn(r"\1 \2 not", clause, count=1)
        clause = negated if count else f"not {clause}"
        wh = "why"
    return f"{wh} {clause}"


# Words that are not the topic of a question: question and helper words,
# people, the medicine itself (the leaflet's passages are all about it) and
# words that only frame the question.
_NOT_TOPIC = frozenset(
    """
    how what whats what's hows how's where's who's when where why which who whom
    can could do does did is are was were be been should shall
    will would may might must any anything there here a an the of to for on in at with by about from into as
    and or but so if then than also just really actually ever still even very
    i im i'm me my mine myself we our us you your yours he she his her they them their it its it's this that
    these those
    imiquimod aldara zyclara cream creme medicine medication drug stuff tube treatment leaflet
    use using used get getting got have having has had take taking put putting apply applying
    normal ok okay fine safe possible allowed supposed expected usual typical common bad good right long
    happen happens mean means need needed know tell
    someone somebody anyone anybody ask asking decide decides decided say says said
    wat wot wht u ur r pls plz thx ok okay hi hello hey
    """.split()
)
# Pronouns a follow-up points back with ("how long do they last?"). An "it"
# that is the object of using the cream ("while im using it", "can i put it
# on my lip?") is the medicine, not a pointer back.
_BACK_POINTER = re.compile(
    r"\b(?:they|them|those|these|that|this"
    r"|(?<!\buse )(?<!\busing )(?<!\bused )(?<!\bapply )(?<!\bapplying )(?<!\bput )(?<!\bputting )it)\b",
    re.IGNORECASE,
)


def topic_of(question: str) -> str:
    """Return the content words of a question: what it is about.

    Args:
        question: A patient's question ("what are the common side effects?").

    Returns:
        Its topic ("side effects"), or "" when it is only about the medicine.
    """
    return " ".join(w for w in _WORD.findall(question) if w.lower() not in _NOT_TOPIC)


def resolve(message: str, previous_question: str) -> Optional[str]:
    """Replace a follow-up's pointer back ("they", "that") with the previous question's topic.

    Args:
        message: The follow-up ("how long do they last?").
        previous_question: The question it follows ("what are the common side effects?").

    Returns:
        The standalone question ("how long do side effects last?"), or None
        when the message points back at nothing but the medicine.
    """
    topic = topic_of(previous_question)
    if not topic or not _BACK_POINTER.search(message):
        return None
    return _BACK_POINTER.sub(topic, message, count=1)


def attach(message: str, previous_statement: str) -> Optional[str]:
    """Ask a question of its own for the condition a previous statement named.

    "what happens after i finish?" after "i'm using imiquimod for basal cell
    carcinoma" means "what happens after i finish for basal cell carcinoma?".
    Read glued to the statement, the question is pulled towards passages
    that only name conditions ("doctors prescribe it for …").

    Args:
        message: The question.
        previous_statement: The statement before it.

    Returns:
        The question with "for <condition>" added, or None when the statement
        names no condition or the question names one itself.
    """
    if any(kind == "condition" for kind, _, _ in _items(message)):
        return None
    conditions = [previous_statement[s:e] for kind, s, e in _items(previous_statement) if kind == "condition"]
    if not conditions:
        return None
    return f"{message.rstrip(' ?!.')} for {conditions[-1]}?"
