"""Rasa NLU components that the Rasa server loads (see ``config.yml``)."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import patches, redflags
from bot.names import ESCALATION_INTENT, NLU_FALLBACK_INTENT, RED_FLAG_LEVEL

logger = logging.getLogger(__name__)
patches.apply()

RED_FLAG_PROPERTY = "red_flag"


class _RuleComponent(GraphComponent):
    """An NLU component made from its config alone: nothing to train, nothing to persist."""

    def __init__(self, config: Dict[str, Any]) -> None:
        """Create the component from its config."""

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> _RuleComponent:
        """Create the component (see the parent class)."""
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Leave training data unchanged; there is nothing to learn."""
        return training_data


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class ChitChatGate(_RuleComponent):
    """Sends a doubtful chit-chat prediction to the leaflet search instead.

    Short questions are often mistaken for chit-chat by the character
    n-grams ("every day?" looks like "good day", "who decides that?" like
    "thanks"); greeting a patient who asked something loses the question,
    while searching a real greeting only costs an "I don't have that". So
    ``greet``, ``start``, ``thank``, ``goodbye`` and ``bot_challenge`` below
    ``min_confidence`` become ``nlu_fallback``, which the rules route to
    retrieval. Real chit-chat scores 0.95 or more here.
    """

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Return the default config: ``intents`` gated, and their ``min_confidence``."""
        return {"intents": ["greet", "start", "thank", "goodbye", "bot_challenge"], "min_confidence": 0.9}

    def __init__(self, config: Dict[str, Any]) -> None:
        """Create the component.

        Args:
            config: The component config from ``config.yml``.
        """
        self._intents = frozenset(config.get("intents") or [])
        self._min_confidence = float(config.get("min_confidence", 0.9))

    def process(self, messages: List[Message]) -> List[Message]:
        """Replace doubtful chit-chat intents with ``nlu_fallback``.

        Args:
            messages: Parsed messages.

        Returns:
            The same messages.
        """
        for message in messages:
            intent = message.get(INTENT) or {}
            confidence = float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0)
            if intent.get(INTENT_NAME_KEY) in self._intents and confidence < self._min_confidence:
                fallback = {INTENT_NAME_KEY: NLU_FALLBACK_INTENT, PREDICTED_CONFIDENCE_KEY: confidence}
                message.set(INTENT, fallback, add_to_output=True)
                ranking = message.get(INTENT_RANKING_KEY) or []
                message.set(INTENT_RANKING_KEY, [fallback, *ranking], add_to_output=True)
        return messages

    @classmethod
    def validate_config(cls, config: Dict[str, Any]) -> None:
        """Check the configured threshold is a probability."""
        value = float(config.get("min_confidence", 0.9))
        if not 0.0 <= value <= 1.0:
            raise ValueError("min_confidence must be between 0 and 1")


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class RedFlagScreen(_RuleComponent):
    """Overrides the predicted intent when a message sounds like a severe symptom.

    It runs after the intent classifiers and the FallbackClassifier, on every
    message of every channel, so escalation never depends on the action server
    or on which intent was predicted. On a hit it sets the intent to
    ``report_severe_symptom`` with confidence 1.0, adds a ``red_flag_level``
    entity (``emergency`` or ``urgent``) that fills the slot of the same name,
    and records the screen's reasons under ``red_flag``.
    """

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Return the default config.

        ``trust_classifier_above``: when the intent classifier itself predicts
        ``report_severe_symptom`` with at least this confidence, and the
        patient does not call it mild, the message escalates even if no rule
        fired (a second net for unseen wording). Below it, the classifier's
        guess is replaced by its next-best intent.
        """
        return {"trust_classifier_above": 0.9}

    def __init__(self, config: Dict[str, Any]) -> None:
        """Create the component.

        Args:
            config: The component config from ``config.yml``.
        """
        self._trust_above = float(config.get("trust_classifier_above", 0.9))

    def process(self, messages: List[Message]) -> List[Message]:
        """Screen each message and override its intent on a red flag.

        Args:
            messages: Messages already classified by the pipeline.

        Returns:
            The same messages, escalated where needed.
        """
        for message in messages:
            self._screen(message)
        return messages

    def _screen(self, message: Message) -> None:
        text = message.get(TEXT) or ""
        result = redflags.screen(text)
        intent = message.get(INTENT) or {}
        by_classifier = (
            intent.get(INTENT_NAME_KEY) == ESCALATION_INTENT
            and float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0) >= self._trust_above
            and not redflags.mentions_mildness(text)
        )
        escalate = result.escalate or by_classifier
        reasons = {
            "escalate": escalate,
            "level": result.level or ("urgent" if escalate else None),
            "categories": result.categories or (["classifier"] if by_classifier else []),
            "matches": result.matches,
            "classifier_confidence": round(float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0), 3)
            if intent.get(INTENT_NAME_KEY) == ESCALATION_INTENT
            else None,
        }
        message.set(RED_FLAG_PROPERTY, reasons, add_to_output=True)
        if not escalate:
            if intent.get(INTENT_NAME_KEY) == ESCALATION_INTENT:
                self._demote(message)
            return
        logger.debug("Red flag: %s", reasons["categories"])
        escalation = {INTENT_NAME_KEY: ESCALATION_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != ESCALATION_INTENT]
        message.set(INTENT, escalation, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [escalation, *ranking], add_to_output=True)
        entities = [e for e in message.get(ENTITIES) or [] if e.get("entity") != RED_FLAG_LEVEL]
        entities.append(
            {
                "entity": RED_FLAG_LEVEL,
                "value": reasons["level"],
                "start": 0,
                "end": len(text),
                "extractor": self.__class__.__name__,
            }
        )
        message.set(ENTITIES, entities, add_to_output=True)

    @staticmethod
    def _demote(message: Message) -> None:
        """Send an unconfirmed escalation to the leaflet search.

        The rules are the authority on escalation; a classifier guess alone
        (below ``trust_classifier_above``, or called mild) is not, since it
        flags mild effects such as "my skin is flaking". What the patient
        wrote is still a symptom, so it goes to ``nlu_fallback`` (retrieval
        decides) rather than to the next-best intent, which is often a
        chit-chat intent far below any threshold ("im losing hair" was
        greeted).
        """
        confidence = float((message.get(INTENT) or {}).get(PREDICTED_CONFIDENCE_KEY) or 0.0)
        fallback = {INTENT_NAME_KEY: NLU_FALLBACK_INTENT, PREDICTED_CONFIDENCE_KEY: confidence}
        ranking = [
            r
            for r in message.get(INTENT_RANKING_KEY) or []
            if r.get(INTENT_NAME_KEY) not in (ESCALATION_INTENT, NLU_FALLBACK_INTENT)
        ]
        message.set(INTENT, fallback, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [fallback, *ranking], add_to_output=True)

    @classmethod
    def validate_config(cls, config: Dict[str, Any]) -> None:
        """Check the configured threshold is a probability."""
        value = float(config.get("trust_classifier_above", 0.9))
        if not 0.0 <= value <= 1.0:
            raise ValueError("trust_classifier_above must be between 0 and 1")

    @staticmethod
    def supported_languages() -> Optional[List[str]]:
        """The rules are written for English."""
        return ["en"]
