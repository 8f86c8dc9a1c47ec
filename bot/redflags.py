"""The red-flag screen: does a patient message sound like a severe symptom?

This is the product's safety net, so it is deterministic, has no model to
load and runs inside the Rasa server (see ``bot.components``) on every message
of every channel, before any answer. It errs towards escalating: question
forms and hypotheticals ("should I keep using it with a fever?") escalate too.

How it works:

1. The text is lower-cased, stripped of accents and apostrophes, and cut into
   clauses at punctuation and at "but".
2. Each word is mapped to its canonical spelling when it is a close typo of a
   symptom word ("fevr" -> "fever", "blistrs" -> "blisters"), using a
   deletion-neighbourhood lookup and an edit-distance check. Common English
   words that happen to be close ("never", "ever", "injection") are left alone.
3. Regular-expression rules over the canonical text name the red flags.
   Symptom words directly negated in the same clause ("no fever") are ignored,
   but uncertainty is not a negation ("not sure if it's infected" escalates).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Dict, FrozenSet, List, Optional, Pattern, Tuple

# --- vocabulary -------------------------------------------------------------

SEVERITY = (
    r"severe|severely|intense|intensely|excruciating|unbearable|unbearably|terrible|terribly"
    r"|horrible|horribly|awful|extreme|extremely|agonizing|agonising|agony|worst|insane"
    r"|intolerable|horrendous|brutal|crazy|incredibly|massive|immense|serious|seriously|sever"
    r"|really bad|very bad|so bad|super bad|real bad"
)
# For symptoms other than pain, "worst" is usually a question ("when is it at its worst").
SEVERITY_SYMPTOM = SEVERITY.replace("|worst", "")
INTENSIFIER = r"very|really|so|super|extremely|incredibly|badly|crazy|insanely|unbelievably|this"
PAIN = (
    r"pain|paine|pian|painn|painful|pains|hurt|hurts|hurting|ache|aches|aching|burning|burns|burn"
    r"|stinging|stings|throbbing|throbs|sore|soreness|tender"
)
SYMPTOM = (
    r"rash|redness|red|reaction|reactions|swelling|swollen|itching|itch|itchy|symptoms|symptom"
    r"|bleeding|side effect|side effects|inflammation|irritation|peeling|scabbing|crusting"
)
FACE = r"face|lips|lip|tongue|throat|mouth|eyelids|eyelid|eyes|eye|cheeks|cheek"
AIRWAY = r"lips|lip|tongue|throat|mouth"
SWELL = r"swell|swells|swelling|swollen|swelled|puffy|puffed|puffing|puffed up|bloated|blown up"
MILD = r"slight|slightly|little|bit|mild|mildly|minor|tiny|small|somewhat|abit"
CREAM_NOUN = r"cream|creme|tube|tubes|sachet|sachets|packet|packets|imiquimod|aldara|zyclara|stuff|medicine|medication"
SKIN_AREA = r"skin|area|spot|spots|patch|patches|site|wound|sore|lesion|place"
WORD = r"[^\s|]+"


def _near(a: str, b: str, gap: int) -> str:
    """Regex for a word from ``a`` and one from ``b`` within ``gap`` words, either order."""
    between = rf"(?:\s+{WORD}){{0,{gap}}}\s+"
    return rf"\b(?:{a})\b{between}\b(?:{b})\b|\b(?:{b})\b{between}\b(?:{a})\b"


@dataclass(frozen=True)
class Rule:
    """One red-flag rule.

    Attributes:
        category: What the rule detects, e.g. ``fever``.
        pattern: Regex over the canonical text.
        emergency: Whether a hit calls for emergency services.
        negatable: Whether "no"/"not"/"without" just before the hit cancels it.
        mild_cancels: Whether "slight"/"a little" just before the hit cancels it.
        mild_message_cancels: Whether the hit is cancelled when the patient
            calls what they describe mild anywhere in the message.
        unless: Regex that cancels the hit when found in the same clause.
    """

    category: str
    pattern: str
    emergency: bool = False
    negatable: bool = True
    mild_cancels: bool = False
    mild_message_cancels: bool = False
    unless: Optional[str] = None


RULES: Tuple[Rule, ...] = (
    # Emergencies.
    Rule(
        "trouble_breathing",
        r"\b(?:cant|cannot|can not|couldnt|hard to|trouble|difficulty|difficult|struggling to"
        r"|struggle to|problems?|unable to|hardly|barely|issues?)\s+(?:\w+\s+)?(?:breathe|breathing|breath)\b"
        r"|\bshort(?:ness)? of breath\b|\bbreathless\w*|\bwheez\w*|\bgasping\b|\bchoking\b|\bsuffocat\w*"
        r"|\bcant get (?:any )?air\b|\bthroat\s+(?:\w+\s+)?(?:closing|closed|tight|tightening|swelling|swollen|swell|swells)\b"
        r"|\bchest\s+(?:\w+\s+)?(?:tight|tightness|pain|pains|hurts)\b|\bbreathing\s+(?:\w+\s+)?(?:hard|difficult|problems?|trouble)\b",
        emergency=True,
    ),
    Rule("airway_swelling", _near(SWELL, AIRWAY, 3), emergency=True),
    Rule(
        "face_swelling",
        _near(SWELL, r"face|eyelids|eyelid|eyes|eye|cheeks|cheek", 3),
        emergency=True,
        mild_cancels=True,
    ),
    Rule(
        "swallowed",
        r"\bswallow\w*|\b(?:ate|eaten|ingested|licked|chewed|sucked on|drank)\s+(?:it|some)\b|"
        + _near(r"ate|eaten|ingested|ingest|licked|chewed|sucked|drank|licking|chewing", CREAM_NOUN, 3)
        + r"|\b(?:in|into)\s+(?:his|her|their|the babys|the kids|my kids|my childs)\s+mouth\b",
        emergency=True,
    ),
    Rule(
        "cream_in_eye",
        r"\b(?:in|into|inside|on)\s+(?:my|his|her|their|your|the|an|one|both|her left|his left"
        r"|her right|his right|my left|my right|left|right)?\s*(?:eye|eyes|eyeball|eyeballs)\b(?!\s+(?:area|region|zone))"
        r"|\b(?:eye|eyes)\s+(?:\w+\s+){0,6}(?:burning|burns|stinging|stings|watering|hurts|hurting|swollen|blurry|blurred)\b"
        r"|\b(?:eye|eyes)\s+(?:\w+\s+)?red\b|\brubbed\s+(?:my|his|her|their|your)?\s*(?:eye|eyes)\b",
        emergency=True,
    ),
    Rule(
        "collapse",
        r"\b(?:fainted|fainting|feel faint|felt faint|feeling faint|passed out|pass out|collapsed|collapse|seizure|seizures"
        r"|unconscious|anaphylaxis|anaphylactic|unresponsive|convulsions?)\b",
        emergency=True,
    ),
    # Urgent: stop the cream and contact the provider.
    Rule(
        "severe_pain",
        _near(SEVERITY, PAIN, 4)
        + rf"|\b(?:{INTENSIFIER})\s+(?:\w+\s+)?(?:painful|hurts|hurting|hurt|sore|bad pain)\b"
        + rf"|{_near(r'really bad|very bad|so bad|super bad|too bad|real bad|bad bad', PAIN, 3)}"
        r"|\b(?:excruciating|unbearable|agony|agonizing|agonising|killing me|hurts like hell|hurts like crazy)\b"
        r"|\bcant\s+(?:stand|bear|take|handle|sleep)\b(?:\s+\w+){0,3}\s+(?:pain|burning|hurting)\b"
        r"|\b(?:pain|burning|hurts|hurting)\b(?:\s+\w+){0,4}\s+(?:cant sleep|crying|in tears|screaming|keeps me up)\b"
        r"|\b(?:crying|screaming|tears)\s+(?:from|with|in|because of)\s+(?:the\s+)?(?:pain|burning)\b"
        r"|\b(?:10|ten|9|nine|8|eight)\s+(?:out of|outta)\s+(?:10|ten)\b"
        r"|\b(?:a lot of|lots of|so much|too much|much|loads of|tons of)\s+(?:\w+\s+)?(?:pain|hurting|burning)\b"
        r"|\b(?:sharp|stabbing|shooting|strong|piercing)\s+(?:\w+\s+)?(?:pain|pains|paine|burning)\b"
        r"|\b(?:cannot|cant|can not|unable to)\s+(?:walk|sit|move|sleep|work)\b",
    ),
    Rule(
        "urination_pain",
        r"\b(?:hurts|hurt|painful|pain|burning|burns|burn|cant|cannot|trouble|difficult|difficulty|stings)"
        r"\s+(?:\w+\s+){0,2}(?:urinate|urinating|pee|peeing|wee|weeing|urination|pass urine)\b",
    ),
    Rule(
        "blisters",
        r"\bblister\w*|\bvesicles?\b|\bbullae\b|\bfluid filled\b|\bwater bubbles?\b|\bbubbles?\s+(?:of|with)\s+(?:fluid|water|liquid)\b"
        r"|\b(?:bubbles?|bumps?)\s+(?:\w+\s+)?(?:filled with|full of)\s+(?:fluid|water|liquid|pus)\b",
    ),
    Rule(
        "fever",
        r"\b(?:fever|fevers|feverish|febrile|chills|shivering|shivers|shiver|shivery|rigors|rigours"
        r"|burning up|boiling up|hot and cold|cold sweats?|night sweats|sweats|sweating|flu like|flulike)\b"
        r"|\bflu\b(?!\s+(?:shot|shots|jab|jabs|vaccine|vaccines|vaccination|season))"
        r"|\bshaking\s+(?:\w+\s+)?(?:cold|uncontrollably|all over)\b",
    ),
    Rule(
        "fever",
        r"\b(?:high|raised|running|spiking|elevated)\s+(?:a\s+)?(?:temp|temperature|temps)\b"
        r"|\b(?:have|got|had|has|with|run|running|get|getting)\s+(?:a\s+)?(?:temp|temperature)\b"
        r"|\b(?:temp|temperature)\s+(?:is|was|of|at)?\s*(?:high|up|3[89]|4[01]|10[0-4])\b",
        unless=r"\b(?:store|stored|storing|storage|room temperature|fridge|refrigerat\w*)\b",
    ),
    Rule(
        "infection",
        r"\b(?:infection|infections|infected|infecting|infect|pus|puss|pussy|purulent|oozing|ooze|oozes|oozed|oozy"
        r"|discharge|discharging|abscess|abscesses|cellulitis|festering|septic|sepsis)\b"
        r"|\b(?:yellow|green|greenish|yellowish|cloudy)\s+(?:\w+\s+)?(?:fluid|liquid|stuff|gunk|goo|gooey|crust|crusts"
        r"|discharge|pus|liquid|slime|gunge|gloop|muck|ooze)\b"
        r"|\b(?:leaking|leaks|leak|weeping|seeping|draining)\s+(?:\w+\s+)?(?:yellow|green|pus|fluid|liquid|stuff|gunk)\b"
        r"|\b(?:smelly|stinks|stinky|stinking|foul|rotten|reeks)\b|"
        + _near(
            r"smell|smells|smelling|odor|odour",
            r"bad|awful|weird|funny|off|nasty|gross|strange|horrible|terrible|disgusting",
            3,
        )
        + r"|\b(?:red and (?:hot|warm)|(?:hot|warm) and (?:red|swollen))\b"
        r"|\bred\s+(?:streak|streaks|line|lines|stripes?)\b|\bstreak\w*"
        + "|"
        + _near(r"spreading|spreads|spread|growing|expanding|extending", r"red|redness|rash|infection|pink", 4)
        + "|"
        + _near(r"hot|warm|heat|burning hot", r"to the touch|to touch|when i touch", 2),
    ),
    Rule(
        "infection",
        rf"\b(?:{SKIN_AREA}|it)\s+(?:\w+\s+){{0,2}}(?:hot|warm)\b"
        r"(?!\s+(?:shower|showers|bath|baths|water|weather|day|days|tea|drink|climate|room))",
        mild_cancels=True,
    ),
    Rule(
        "not_healing",
        r"\b(?:not|isnt|wont|doesnt|didnt|hasnt|havent|never|arent|cant|still not|wasnt|not really)\s+"
        r"(?:\w+\s+)?(?:heal|healing|healed|heals|closing up|close up|closing|closed up|closed over|closed"
        r"|crusted over|scabbed over|getting better|improving|improve)\b"
        r"|\b(?:stopped|no|non|without)\s+healing\b|\bdoubts? about (?:the )?healing\b"
        r"|\b(?:sore|sores|wound|wounds|spot|spots|lesion|lesions|area|patch|it)\s+(?:is\s+|are\s+|s\s+)?still\s+open\b"
        r"|\b(?:not sure|unsure|worried|worry|worrying|doubt|doubts|concerned)\s+(?:\w+\s+){0,3}(?:healing|heal|healed|getting better)\b"
        r"|\b(?:worse and worse|keeps getting worse|keep getting worse|still getting worse|getting worse every"
        r"|getting worse each|worse every day|worse each day|worse by the day|getting worse daily)\b"
        r"|\bworse\s+(?:\w+\s+){0,3}(?:after|since)\s+(?:i\s+)?(?:stopped|stopping|finishing|finished|quit)\b"
        r"|\b(?:open sore|open sores|open wound|open wounds|raw open|ulcer|ulcers|ulcerated|ulceration|crater|craters)\b"
        + "|"
        + _near(r"sore|sores|wound|wounds|lesion|lesions|cut", r"worse|bigger|deeper|growing|spreading", 3),
    ),
    Rule(
        "new_severe_symptom",
        _near(SEVERITY_SYMPTOM, SYMPTOM, 4)
        + rf"|\b(?:{INTENSIFIER}|badly|hugely|massively)\s+(?:swollen|swelling|inflamed)\b"
        + r"|\b(?:huge|massive|big|large|giant|enormous)\s+(?:swelling|swellings|lump|lumps)\b"
        r"|\bhives\b|\bwelts\b"
        r"|\b(?:rash|redness|hives|spots|bumps)\s+(?:\w+\s+){0,2}(?:all over|everywhere|over my (?:whole )?body)\b"
        r"|\bbleeding\s+(?:\w+\s+)?(?:a lot|heavily|badly|lots|loads|non stop|nonstop|wont stop|doesnt stop)\b"
        r"|\b(?:wont|doesnt|cant|will not|does not)\s+stop\s+bleeding\b|\bbleed\w* (?:heavily|badly|a lot)\b"
        r"|\bnew severe\b|\b(?:emergency|a and e|urgent care|ambulance|911|999|112)\b"
        r"|\b(?:feel|feeling|felt|am|im)\s+(?:\w+\s+)?(?:very|really|so|extremely|super|terribly)\s+(?:sick|ill|unwell|poorly|weak|dizzy)\b"
        r"|\b(?:feel|feeling|felt)\s+(?:awful|terrible|horrible|dreadful|horrendous)\b"
        r"|\b(?:something|its|it is|this is|thats)\s+(?:\w+\s+)?(?:very|really|seriously|terribly|badly)?\s*wrong\b"
        r"|\b(?:its|it is|this is|thats|help)\s+(?:really|very|so|super)\s+bad\b"
        r"|\b(?:lymph nodes?|glands?|nodes)\s+(?:\w+\s+){0,2}(?:swollen|swelling|swelled|up|lumpy|sore)\b"
        r"|\bwhole\s+(?:\w+\s+)?(?:arm|leg|face|body|hand|foot|chest|back|neck|side|thigh|groin|area)\s+(?:\w+\s+){0,3}(?:red|swollen|swelling|rash|inflamed)\b"
        r"|\b(?:throbbing|swollen|red|painful)\s+and\s+(?:\w+\s+)?(?:hot|warm)\b"
        r"|\b(?:turned|turning|gone|going|went|is|looks)\s+(?:\w+\s+)?(?:black|blue|purple|grey|gray)\b"
        r"|\b(?:broken open|broke open|open raw|raw wound|raw and open|cracked open|split open)\b"
        # Skin coming away in sheets is not the flaking the leaflet expects.
        r"|\b(?:peeling|peels|peeled|peel|coming|comes|came|falling|falls|fell|sloughing|shedding)\s+off"
        r"\s+in\s+(?:\w+\s+)?(?:sheets|chunks|layers|strips|pieces|lumps)\b"
        r"|\bskin\s+(?:is\s+|s\s+)?(?:coming|falling|sloughing)\s+(?:\w+\s+)?off\b",
    ),
    # "I think I'm allergic to it" escalates; "mild redness, worried it's an
    # allergy" is a mild effect the leaflet explains. Severe allergic signs
    # (hives, a swollen face or lips, trouble breathing) have rules of their
    # own that mildness does not cancel.
    Rule(
        "allergic_reaction",
        r"\ballergic\w*|\ballergy\b|\ballergies\b",
        mild_message_cancels=True,
    ),
    Rule(
        "bleeding",
        r"\b(?:bleeding|bleeds|bled|bleed)\b",
        mild_cancels=True,
    ),
)

# Words that negate a symptom named right after them in the same clause.
NEGATORS: FrozenSet[str] = frozenset(
    "no not without none nor dont doesnt didnt isnt arent wasnt werent havent hasnt hadnt neither zero nope".split()
)
# Words that turn a negation into uncertainty ("not sure if ...", "dont know whether ...").
UNCERTAIN: FrozenSet[str] = frozenset("sure know think certain if whether unsure wonder tell seem seems".split())
NEGATION_WINDOW = 3

# Canonical spellings that typos are mapped to. Each is matched by the rules.
LEXICON: Tuple[str, ...] = tuple(
    """
    fever fevers feverish temperature shivering shivers chills rigors sweating
    blister blisters blistering blistered
    infection infections infected discharge oozing abscess cellulitis streaks streaking
    breathe breathing breath breathless wheezing choking suffocating
    swelling swollen tongue throat eyelids
    swallowed swallow ingested
    severe severely excruciating unbearable terrible terribly horrible horribly awful extreme
    extremely agonizing intense intensely intolerable horrendous
    painful hurting throbbing burning stinging
    healing heal healed ulcer ulcers ulcerated worse
    allergic anaphylaxis anaphylactic fainted fainting collapsed seizure unconscious
    spreading bleeding redness smelly emergency
    """.split()
)

# Real English words within one or two edits of a lexicon word: never "corrected".
COMMON_WORDS: FrozenSet[str] = frozenset(
    """
    never ever fewer lever seven every even over fear fresh freer river
    injection injections inflection infections detection direction
    beater better bitter blaster blusters bluster sister listen lister whisper
    breach bread breadth breathes breather breaks breaking bleaching leaching
    swelling swilling smelling spelling selling telling yelling dwelling shelling
    tongues thought through throw throat throats
    seizures severed several sewer
    terrible territory
    heal heals health heath heart hear heat head hell help held healthy
    worse worst horse nurse purse verse worth words world
    burning turning burying running churning learning earning
    stinging singing swinging stringing
    hurting hunting hurling
    bleeding breeding bleeping bleating pleading reading heeding feeding needing seeding speeding
    spreading spending
    painful pinful
    intense intents intend intent
    awful
    extreme
    ulcer
    choking cooking coking joking smoking
    chills chili chilis chiles hills shills
    shivers shivery slivers silvers
    swallow swallows shallow hallow wallow fallow follow mallow swallowed shallower
    oozing dozing boozing
    streaks streams strokes steaks breaks sneaks speaks tweaks
    redness readiness
    fainted painted
    allergic
    sweating seating heating beating eating meeting setting sweeting
    discharge
    abscess access
    emergency
    temperature
    blistering
    swollen stolen sullen
    breath death
    throbbing robbing sobbing
    healed headed heeled healer
    """.split()
)


@dataclass
class ScreenResult:
    """The screen's verdict on one message.

    Attributes:
        escalate: Whether the message must be escalated.
        emergency: Whether emergency services should be called now.
        categories: The red-flag categories found, in rule order.
        matches: The matched fragments of the canonical text, for inspection.
        canonical_text: The normalised text the rules ran on.
    """

    escalate: bool
    emergency: bool = False
    categories: List[str] = field(default_factory=list)
    matches: List[str] = field(default_factory=list)
    canonical_text: str = ""

    @property
    def level(self) -> Optional[str]:
        """Return ``emergency``, ``urgent`` or None."""
        if not self.escalate:
            return None
        return "emergency" if self.emergency else "urgent"

    def explain(self) -> str:
        """Say in one line why the message escalates or not."""
        if not self.escalate:
            return "no red flag found"
        found = ", ".join(f"{c} ({m!r})" for c, m in zip(self.categories, self.matches, strict=True))
        return f"{self.level}: {found}"


# --- normalisation ----------------------------------------------------------

_CLAUSE_BREAK = re.compile(r"[.!?;:,\n()\[\]/]+|\s+-+\s+|\s+but\s+|\s+however\s+|\s+although\s+")
_NON_WORD = re.compile(r"[^a-z0-9\s]+")
_REPEATS = re.compile(r"(.)\1{2,}")


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def normalise(text: str) -> str:
    """Lower-case, de-accent and cut into clauses joined by `` | ``.

    Args:
        text: The patient's message.

    Returns:
        Canonical text: words separated by single spaces, clauses by `` | ``,
        typos of symptom words corrected.
    """
    text = _strip_accents(text.lower()).replace("’", "'").replace("'", "").replace("`", "")
    text = text.replace("&", " and ")
    clauses = []
    for clause in _CLAUSE_BREAK.split(text):
        clause = _REPEATS.sub(r"\1\1", _NON_WORD.sub(" ", clause))
        words = [canonical_word(w) for w in clause.split()]
        if words:
            clauses.append(" ".join(words))
    return " | ".join(clauses)


# --- typo correction --------------------------------------------------------


def _deletes(word: str, distance: int) -> set:
    found = {word}
    frontier = {word}
    for _ in range(distance):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


@lru_cache(maxsize=1)
def _delete_index() -> Dict[str, List[str]]:
    index: Dict[str, List[str]] = {}
    for term in LEXICON:
        for variant in _deletes(term, _max_distance(term)):
            index.setdefault(variant, []).append(term)
    return index


def _max_distance(word: str) -> int:
    return 2 if len(word) >= 9 else 1


def _osa_distance(a: str, b: str) -> int:
    """Optimal-string-alignment edit distance (adjacent swaps count as one)."""
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        rows[i][0] = i
    for j in range(len(b) + 1):
        rows[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[len(a)][len(b)]


@lru_cache(maxsize=20000)
def canonical_word(word: str) -> str:
    """Map a word to the symptom word it misspells, or return it unchanged.

    Args:
        word: One lower-case word.

    Returns:
        The corrected word, or ``word`` itself.
    """
    if len(word) < 4 or word in COMMON_WORDS or word in LEXICON or word.isdigit():
        return word
    distance = _max_distance(word)
    candidates: set = set()
    index = _delete_index()
    for variant in _deletes(word, distance):
        candidates.update(index.get(variant, ()))
    best: Optional[Tuple[int, str]] = None
    for term in sorted(candidates):
        if len(term) < 5:
            continue
        limit = min(_max_distance(term), distance)
        d = _osa_distance(word, term)
        if d <= limit and (best is None or d < best[0]):
            best = (d, term)
    return best[1] if best else word


# --- the screen -------------------------------------------------------------


@lru_cache(maxsize=1)
def _compiled() -> Tuple[Tuple[Rule, Pattern[str]], ...]:
    return tuple((rule, re.compile(rule.pattern)) for rule in RULES)


def _words_before(canonical: str, start: int) -> List[str]:
    clause_start = canonical.rfind("|", 0, start) + 1
    return canonical[clause_start:start].split()[-NEGATION_WINDOW:]


def _clause(canonical: str, start: int, end: int) -> str:
    clause_start = canonical.rfind("|", 0, start) + 1
    clause_end = canonical.find("|", end)
    return canonical[clause_start : clause_end if clause_end >= 0 else len(canonical)]


def _negated(canonical: str, start: int) -> bool:
    """Whether the words just before ``start`` in the same clause negate it."""
    before = _words_before(canonical, start)
    for position, word in enumerate(before):
        if word in NEGATORS:
            return not any(w in UNCERTAIN for w in before[position + 1 :])
    return False


_MILD_WORDS = frozenset(MILD.split("|"))


def _mild(canonical: str, start: int, fragment: str) -> bool:
    """Whether a mildness word qualifies the hit."""
    words = _words_before(canonical, start) + fragment.split()
    return any(w in _MILD_WORDS for w in words)


def screen(text: str) -> ScreenResult:
    """Screen one patient message for red flags.

    Args:
        text: The message as the patient typed it.

    Returns:
        The verdict, with the categories and fragments that triggered it.
    """
    canonical = normalise(text or "")
    padded = f" {canonical} "
    result = ScreenResult(escalate=False, canonical_text=canonical)
    for rule, pattern in _compiled():
        for match in pattern.finditer(padded):
            if rule.negatable and _negated(padded, match.start()):
                continue
            if rule.mild_cancels and _mild(padded, match.start(), match.group(0)):
                continue
            if rule.mild_message_cancels and _mentions_mildness(canonical):
                continue
            if rule.unless and re.search(rule.unless, _clause(padded, match.start(), match.end())):
                continue
            result.escalate = True
            result.emergency = result.emergency or rule.emergency
            result.categories.append(rule.category)
            result.matches.append(match.group(0).strip())
            break
    return result


def mentions_mildness(text: str) -> bool:
    """Whether the patient qualifies what they describe as mild ("slight", "a bit").

    Args:
        text: The message.

    Returns:
        True when a mildness word appears.
    """
    return _mentions_mildness(normalise(text))


# "not really painful", "not too bad": a symptom played down.
_PLAYED_DOWN = re.compile(
    r"\bnot (?:really|very|too|that|so|particularly|overly) (?:\w+ )?(?:painful|bad|sore|hurting|hurts|tender|itchy|red|swollen)\b"
)


def _mentions_mildness(canonical: str) -> bool:
    """Whether the canonical text has a mildness word or plays a symptom down."""
    return any(word in _MILD_WORDS for word in canonical.split()) or bool(_PLAYED_DOWN.search(canonical))
