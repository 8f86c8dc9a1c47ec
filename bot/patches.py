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
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict

from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from sqlalchemy import event
from sqlalchemy.engine import Engine


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


def apply() -> None:
    """Install the fixes (idempotent)."""
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)


apply()
