"""The fix for Rasa's per-call schema check keeps validating action responses."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from bot import patches


def _action() -> RemoteAction:
    patches.apply()
    return RemoteAction("action_answer_question", EndpointConfig("http://127.0.0.1:1/webhook"))


def test_valid_action_responses_pass() -> None:
    response = {"events": [{"event": "slot", "name": "answer_outcome", "value": "answered"}], "responses": []}
    assert _action()._validate_action_result(response) is True


def test_invalid_action_responses_still_fail() -> None:
    with pytest.raises(ValidationError) as error:
        _action()._validate_action_result({"events": "not a list"})
    assert "Failed to validate Action server response" in error.value.message


def test_the_schema_is_compiled_once() -> None:
    _action()._validate_action_result({"events": []})
    _action()._validate_action_result({"events": []})
    assert patches._action_response_validator.cache_info().hits >= 1


def test_sqlite_connections_use_wal(tmp_path) -> None:
    from sqlalchemy import create_engine, text

    patches.apply()
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
