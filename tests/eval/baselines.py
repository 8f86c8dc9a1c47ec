"""Baselines run on the same labelled set as the bot.

1. BM25 over the passages.
2. Plain dense search over the leaflet's raw sentences: no phrasings, no
   threshold (it always answers).
3. Rasa's own FAQ approach: a retrieval intent with a ResponseSelector,
   trained on the same phrasings the bot indexes (never on the evaluation set).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import yaml
from rank_bm25 import BM25Okapi

from knowledge.embedder import embed
from knowledge.index import load_phrasings
from knowledge.passages import Passage, load_passages, split_sentences
from knowledge.settings import LEAFLET_PATH, PROJECT_DIR
from tests.eval.metrics import Prediction

_TOKEN = re.compile(r"[a-z0-9]+")


def _tokens(text: str) -> List[str]:
    return _TOKEN.findall(text.lower())


def message_text(message: Dict[str, Any]) -> str:
    """The text a context-free baseline sees: the last turn."""
    return message["turns"][-1] if "turns" in message else message["text"]


class BM25Baseline:
    """BM25 over passage texts; declines only when no word overlaps."""

    name = "BM25 over passages"

    def __init__(self, passages: List[Passage]) -> None:
        """Index the passages."""
        self.ids = [p.id for p in passages]
        self.bm25 = BM25Okapi([_tokens(p.text) for p in passages])

    def predict(self, message: Dict[str, Any]) -> Prediction:
        """Rank passages for one message."""
        scores = self.bm25.get_scores(_tokens(message_text(message)))
        order = [self.ids[i] for i in np.argsort(-scores)]
        if float(np.max(scores)) <= 0.0:
            return Prediction(None, order, declined=True)
        return Prediction(order[0], order)


class RawSentenceDenseBaseline:
    """MiniLM over the leaflet's raw sentences; always answers."""

    name = "Dense over raw sentences"

    def __init__(self, passages: List[Passage]) -> None:
        """Embed every sentence of the leaflet, remembering its passage."""
        self.sentences: List[str] = []
        self.owner: List[str] = []
        for line in LEAFLET_PATH.read_text(encoding="utf-8").splitlines():
            for sentence in split_sentences(line):
                self.sentences.append(sentence)
                self.owner.append(next((p.id for p in passages if sentence in p.text), ""))
        self.vectors = embed(self.sentences)

    def predict_many(self, messages: List[Dict[str, Any]]) -> List[Prediction]:
        """Rank passages for every message in one batch."""
        queries = embed([message_text(m) for m in messages])
        predictions = []
        for scores in queries @ self.vectors.T:
            order: List[str] = []
            for i in np.argsort(-scores):
                if self.owner[i] and self.owner[i] not in order:
                    order.append(self.owner[i])
            predictions.append(Prediction(order[0], order))
        return predictions


class ResponseSelectorBaseline:
    """Rasa's FAQ recipe: ``faq/<passage id>`` retrieval intents and a ResponseSelector."""

    name = "Rasa ResponseSelector (faq retrieval intent)"

    def __init__(self, passages: List[Passage], workdir: Path) -> None:
        """Write the training data and train a model.

        Args:
            passages: The leaflet passages (one response each).
            workdir: Folder for the data and the model.
        """
        self.workdir = workdir
        data = workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        phrasings = load_phrasings()
        nlu = [
            {"intent": f"faq/{p.id}", "examples": "".join(f"- {q}\n" for q in phrasings.get(p.id, []))}
            for p in passages
        ]
        for extra in ("chitchat", "symptoms", "out_of_scope"):
            nlu.extend(yaml.safe_load((PROJECT_DIR / "bot" / "nlu" / f"{extra}.yml").read_text())["nlu"])
        (data / "nlu.yml").write_text(yaml.safe_dump({"version": "3.1", "nlu": nlu}, sort_keys=False))
        (data / "responses.yml").write_text(
            yaml.safe_dump(
                {"version": "3.1", "responses": {f"utter_faq/{p.id}": [{"text": p.text}] for p in passages}},
                sort_keys=False,
            )
        )
        intents = sorted({n["intent"].split("/")[0] for n in nlu})
        (data / "rules.yml").write_text(
            yaml.safe_dump(
                {
                    "version": "3.1",
                    "rules": [{"rule": "faq", "steps": [{"intent": "faq"}, {"action": "utter_faq"}]}],
                },
                sort_keys=False,
            )
        )
        (workdir / "domain.yml").write_text(
            yaml.safe_dump({"version": "3.1", "intents": intents, "actions": ["utter_faq"]}, sort_keys=False)
        )
        (workdir / "config.yml").write_text(
            yaml.safe_dump(
                {
                    "recipe": "default.v1",
                    "language": "en",
                    "assistant_id": "faq-baseline",
                    "pipeline": [
                        {"name": "WhitespaceTokenizer"},
                        {"name": "CountVectorsFeaturizer"},
                        {
                            "name": "CountVectorsFeaturizer",
                            "analyzer": "char_wb",
                            "min_ngram": 1,
                            "max_ngram": 4,
                        },
                        {"name": "DIETClassifier", "epochs": 100, "random_seed": 1},
                        {
                            "name": "ResponseSelector",
                            "epochs": 100,
                            "retrieval_intent": "faq",
                            "random_seed": 1,
                        },
                    ],
                    "policies": [{"name": "RulePolicy"}],
                },
                sort_keys=False,
            )
        )
        rasa = str(Path(sys.executable).parent / "rasa")
        subprocess.run(
            [
                rasa,
                "train",
                "--data",
                "data",
                "--domain",
                "domain.yml",
                "--config",
                "config.yml",
                "--out",
                "models",
                "--fixed-model-name",
                "faq",
            ],
            cwd=workdir,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        from rasa.core.agent import Agent

        self.agent = Agent.load(str(workdir / "models" / "faq.tar.gz"))

    def predict(self, message: Dict[str, Any]) -> Prediction:
        """Parse one message and read the response selector's ranking."""
        parsed = asyncio.run(self.agent.parse_message(message_text(message)))
        intent = parsed["intent"]["name"]
        selector = (parsed.get("response_selector") or {}).get("faq") or {}
        ranking = [r["intent_response_key"].split("/", 1)[1] for r in selector.get("ranking", [])]
        if intent == "report_severe_symptom":
            return Prediction(None, ranking, escalated=True)
        if intent != "faq":
            return Prediction(None, ranking, declined=intent == "out_of_scope")
        return Prediction(ranking[0] if ranking else None, ranking)


def run_baselines(messages: List[Dict[str, Any]]) -> Dict[str, List[Prediction]]:
    """Run every baseline on the messages.

    Args:
        messages: The labelled messages.

    Returns:
        Predictions by baseline name.
    """
    passages = load_passages()
    bm25 = BM25Baseline(passages)
    dense = RawSentenceDenseBaseline(passages)
    results = {
        bm25.name: [bm25.predict(m) for m in messages],
        dense.name: dense.predict_many(messages),
    }
    with tempfile.TemporaryDirectory(prefix="faq-baseline-") as tmp:
        selector = ResponseSelectorBaseline(passages, Path(tmp))
        results[selector.name] = [selector.predict(m) for m in messages]
    return results
