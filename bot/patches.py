"""Fixes to Rasa 3.6.21 internals that the Rasa server needs with today's dependencies.

Applied on import by ``bot.components`` (loaded with every model) and the
channels, so every ``rasa run`` and ``rasa shell`` of this bot gets them.

- **Action response validation re-checks its schema on every call.**
  ``RemoteAction._validate_action_result`` calls ``jsonschema.validate``,
  which validates the schema itself and builds a new validator for each
  action-server response. Profiling showed it took about 70% of the Rasa
  server's time on a leaflet question. The fix compiles the schema once.
  Even compiled, the schema's ``oneOf`` over the 23 event types checks every
  event against every type (3 ms a response, 9% of the server's time under
  load); each type's branch is picked by its ``event`` constant instead,
  which accepts and rejects exactly the same responses (tested against the
  whole schema).
- **SQLite tracker store commits cost an fsync each.** Connections to SQLite
  use write-ahead logging with ``synchronous=NORMAL``: a commit survives a
  crash of the server (the conversation store's job), and skips the extra
  fsync that only guards against power loss.
- **Every stored event looks up its class among all Event subclasses.**
  ``Event.resolve_by_type`` walks the whole class tree for each event it
  deserialises (about 9% of the server's time under load); the fix caches the
  type-name lookup and walks the tree again only for a name it has not seen.
- **Every parse and prediction rebuilds the model graph and runs it through
  dask's scheduler**: see ``bot.graph_runner``.
- **A new connection to the action server for every call**: see
  ``bot.keepalive``.
- **The SQL tracker store's ORM path** (about 40% of the server's time under
  load): see ``bot.tracker_sql``.
- **The RulePolicy rebuilds the state of every past turn for every
  prediction.** Only the last turns can match a rule (the longest rule has a
  few states), but Rasa computes the dialogue state after every action of
  the conversation, two or three times a message: 3.3 ms a time at 20 turns,
  growing with the conversation. The fix still replays every event (so slot
  values are exact) but builds states only for the turns a rule can reach;
  the predictions are the same (tested against Rasa's own path).
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH, RulePolicy
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import ActionExecuted, Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bot import graph_runner, keepalive, tracker_sql


@lru_cache(maxsize=1)
def _event_validators() -> Tuple[Any, Dict[str, Any]]:
    """Split Rasa's schema into the envelope and one validator per event type.

    The schema says each event must match exactly one of 23 branches, and
    each branch fixes ``event`` to its own constant, so the one branch an
    event can match is the one named by its ``event`` field.

    Returns:
        The envelope validator (the schema with events checked against the
        common part only) and the branch validator of each event type.
    """
    spec = copy.deepcopy(RemoteAction.action_response_format_spec())
    validator_class = validator_for(spec)
    validator_class.check_schema(spec)
    items = spec["properties"]["events"]["items"]
    branches = items.pop("oneOf")
    names = [branch["properties"]["event"]["const"] for branch in branches]
    if len(set(names)) != len(names):
        raise ValueError("Rasa's event schema no longer has one branch per event type.")
    return validator_class(spec), {name: validator_class(b) for name, b in zip(names, branches, strict=True)}


def _check_action_result(result: Any) -> None:
    """Check a response as Rasa's whole schema would, one event branch at a time.

    Raises:
        ValidationError: The response does not match the schema.
    """
    envelope, branches = _event_validators()
    envelope.validate(result)
    for item in result.get("events") or []:
        branch = branches.get(item["event"])
        if branch is None:
            raise ValidationError(f"{item['event']!r} is not a known event type")
        branch.validate(item)


def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
    """Validate an action server's response against Rasa's response schema.

    Args:
        self: The remote action.
        result: The action server's JSON response.

    Returns:
        True when valid.

    Raises:
        ValidationError: The response does not match the schema.
    """
    try:
        _check_action_result(result)
        return True
    except ValidationError as error:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the Action "
            f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """Turn on WAL for SQLite connections (no effect on other databases)."""
    if type(connection).__module__.startswith("sqlite3"):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


_EVENT_TYPES: Dict[str, type] = {}


def _resolve_event_type(type_name: str, default: Optional[type] = None) -> Optional[type]:
    """Return the Event class for a type name, as ``Event.resolve_by_type`` does, from a cache.

    Args:
        type_name: The event's ``event`` field.
        default: The class to return for an unknown name.

    Returns:
        The class; None for the legacy ``topic`` event.

    Raises:
        ValueError: The name is unknown and there is no default.
    """
    cls = _EVENT_TYPES.get(type_name)
    if cls is None:
        for candidate in all_subclasses(Event):
            _EVENT_TYPES.setdefault(candidate.type_name, candidate)
        cls = _EVENT_TYPES.get(type_name)
    if cls is not None:
        return cls
    if type_name == "topic":
        return None
    if default is not None:
        return default
    raise ValueError(f"Unknown event name '{type_name}'.")


def last_states(domain: Domain, tracker: DialogueStateTracker, keep: int) -> List[State]:
    """The last ``keep`` states of ``Domain.states_for_tracker_history``, without building the others.

    Args:
        domain: The domain.
        tracker: The conversation.
        keep: How many of the latest states to build.

    Returns:
        The same states Rasa builds for the last ``keep`` prior trackers
        (no slots omitted, no rule-only turns ignored, as for the RulePolicy).
    """
    events = tracker.applied_events()
    total = sum(isinstance(e, ActionExecuted) for e in events) + 1
    skip = max(0, total - keep)
    prior = tracker.init_copy()
    states: List[State] = []
    seen = 0
    for applied in events:
        if isinstance(applied, ActionExecuted):
            if seen >= skip:
                states.append(domain._clean_state(domain.get_active_state(prior)))
            seen += 1
        prior.update(applied)
    states.append(domain._clean_state(domain.get_active_state(prior)))
    return states


def _rule_prediction_states(
    self: RulePolicy,
    tracker: DialogueStateTracker,
    domain: Domain,
    use_text_for_last_user_input: bool = False,
    rule_only_data: Optional[Dict[str, Any]] = None,
) -> List[State]:
    """``Policy._prediction_states`` for the RulePolicy, building only the states a rule can reach."""
    keep = getattr(self, "_longest_rule", None)
    if keep is None:
        keys = [*self.lookup.get(RULES, {}), *self.lookup.get(RULES_FOR_LOOP_UNHAPPY_PATH, {})]
        keep = max((len(self._rule_key_to_state(key)) for key in keys), default=0) + 1
        self._longest_rule = keep
    states = last_states(domain, tracker, keep)
    self.featurizer._choose_last_user_input([states], use_text_for_last_user_input)
    return states


def apply() -> None:
    """Install the fixes (idempotent)."""
    Event.resolve_by_type = staticmethod(_resolve_event_type)  # type: ignore[assignment]
    tracker_sql.apply()
    keepalive.apply()
    graph_runner.apply()
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    RulePolicy._prediction_states = _rule_prediction_states  # type: ignore[method-assign]
    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)


apply()
