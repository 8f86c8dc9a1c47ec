"""Fixes to Rasa 3.6.21 internals that the Rasa server needs with today's dependencies.

Applied on import by ``bot.components`` (loaded with every model) and the
channels, so every ``rasa run`` and ``rasa shell`` of this bot gets them.

- **Action response validation re-checks its schema on every call.**
  ``RemoteAction._validate_action_result`` calls ``jsonschema.validate``,
  which validates the schema itself and builds a new validator for each
  action-server response. Profiling showed it took about 70% of the Rasa
  server's time on a leaflet question. The fix validates against one
  validator compiled once; responses are checked exactly as before.
- **SQLite tracker store commits cost an fsync each.** Connections to SQLite
  use write-ahead logging with ``synchronous=NORMAL``: a commit survives a
  crash of the server (the conversation store's job), and skips the extra
  fsync that only guards against power loss.
- **Every stored event looks up its class among all Event subclasses.**
  ``Event.resolve_by_type`` walks the whole class tree for each event it
  deserialises (about 9% of the server's time under load); the fix caches the
  type-name lookup and walks the tree again only for a name it has not seen.
- **The SQL tracker store's ORM path** (about 40% of the server's time under
  load): see ``bot.tracker_sql``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, Optional

from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bot import tracker_sql


@lru_cache(maxsize=1)
def _action_response_validator() -> Any:
    spec = RemoteAction.action_response_format_spec()
    validator_class = validator_for(spec)
    validator_class.check_schema(spec)
    return validator_class(spec)


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
        _action_response_validator().validate(result)
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


def apply() -> None:
    """Install the fixes (idempotent)."""
    Event.resolve_by_type = staticmethod(_resolve_event_type)  # type: ignore[assignment]
    tracker_sql.apply()
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)


apply()
