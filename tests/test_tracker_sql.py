"""The fast SQL tracker store path stores and loads exactly what Rasa's own path does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, List

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses
from sqlalchemy import text

from bot import patches, tracker_sql

DOMAIN = Domain.load(str(Path(__file__).resolve().parent.parent / "domain.yml"))


def _store(tmp_path: Path) -> SQLTrackerStore:
    patches.apply()
    return SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "tracker.db"))


def _turn(text_: str, at: float) -> List[Event]:
    return [
        UserUttered(text_, {"name": "ask_question", "confidence": 0.9}, timestamp=at),
        ActionExecuted("action_answer_question", timestamp=at + 0.1),
        BotUttered("an answer", {"passage_id": "use-1"}, timestamp=at + 0.2),
        SlotSet("answer_outcome", "answered", timestamp=at + 0.3),
        ActionExecuted("action_listen", timestamp=at + 0.4),
    ]


def _session_start(at: float) -> List[Event]:
    return [ActionExecuted("action_session_start", timestamp=at), SessionStarted(timestamp=at + 0.01)]


def _rows(store: SQLTrackerStore, sender: str) -> int:
    with store.engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}).scalar()


def _dicts(tracker: DialogueStateTracker) -> List[Any]:
    return [e.as_dict() for e in tracker.events]


def _run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_saving_twice_inserts_each_event_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    now = time.time()
    tracker = DialogueStateTracker.from_events("p1", _session_start(now) + _turn("first", now + 1), DOMAIN.slots)
    _run(store.save(tracker))
    _run(store.save(tracker))
    assert _rows(store, "p1") == len(tracker.events)
    loaded = _run(store.retrieve("p1"))
    for event in _turn("second", now + 2):
        loaded.update(event)
    _run(store.save(loaded))
    _run(store.save(loaded))
    # Rasa's session filter leaves out action_session_start (stamped before session_started).
    assert len(loaded.events) == 1 + 10
    assert _rows(store, "p1") == 2 + 10


def test_the_fast_path_loads_what_rasas_own_path_loads(tmp_path: Path) -> None:
    store = _store(tmp_path)
    now = time.time()
    events = _session_start(now) + _turn("old session", now + 1) + _session_start(now + 5) + _turn("new", now + 6)
    _run(tracker_sql.RASA_SAVE(store, DialogueStateTracker.from_events("p2", events, DOMAIN.slots)))
    fast = _run(store.retrieve("p2"))
    rasa = _run(tracker_sql.RASA_RETRIEVE(store, "p2", fetch_events_from_all_sessions=False))
    assert _dicts(fast) == _dicts(rasa)
    assert [e.get("text") for e in _dicts(fast) if e["event"] == "user"] == ["new"]
    full = _run(store.retrieve_full_tracker("p2"))
    assert _dicts(full) == _dicts(_run(tracker_sql.RASA_RETRIEVE(store, "p2", fetch_events_from_all_sessions=True)))
    assert len(full.events) == len(events)
    assert fast.get_slot("answer_outcome") == "answered"


def test_what_the_fast_path_saves_rasas_own_path_reads_back(tmp_path: Path) -> None:
    store = _store(tmp_path)
    now = time.time()
    tracker = DialogueStateTracker.from_events("p3", _session_start(now) + _turn("hello", now + 1), DOMAIN.slots)
    _run(store.save(tracker))
    rasa = _run(tracker_sql.RASA_RETRIEVE(store, "p3", fetch_events_from_all_sessions=False))
    # Rasa's session filter leaves out action_session_start (stamped before session_started).
    assert _dicts(rasa) == _dicts(tracker)[1:]
    assert _rows(store, "p3") == len(tracker.events)


def test_a_tracker_not_loaded_by_the_store_is_saved_as_rasa_saves_it(tmp_path: Path) -> None:
    store = _store(tmp_path)
    now = time.time()
    first = _session_start(now) + _turn("one", now + 1)
    counts = {}
    for sender, save in (("fast", store.save), ("rasa", lambda t: tracker_sql.RASA_SAVE(store, t))):
        _run(save(DialogueStateTracker.from_events(sender, first, DOMAIN.slots)))
        # A tracker rebuilt from a full event list (as the HTTP API does) carries no stored count.
        rebuilt = DialogueStateTracker.from_events(sender, first + _turn("two", now + 2), DOMAIN.slots)
        assert getattr(rebuilt, tracker_sql.STORED_ATTRIBUTE, None) is None
        _run(save(rebuilt))
        counts[sender] = _rows(store, sender)
    assert counts["fast"] == counts["rasa"] >= len(first) + 5


def test_unknown_senders_have_no_tracker(tmp_path: Path) -> None:
    assert _run(_store(tmp_path).retrieve("nobody")) is None


def test_the_event_type_cache_resolves_like_rasa() -> None:
    patches.apply()
    for cls in all_subclasses(Event):
        resolved = Event.resolve_by_type(cls.type_name)
        expected = next(c for c in all_subclasses(Event) if c.type_name == cls.type_name)
        assert resolved is expected
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("no_such_event", default=UserUttered) is UserUttered
    with pytest.raises(ValueError):
        Event.resolve_by_type("no_such_event")


def _loaded_and_saved(store: SQLTrackerStore, sender: str, now: float) -> DialogueStateTracker:
    """Store a first turn, then load the conversation and save a second turn, as the server does."""
    first = _session_start(now) + _turn("one", now + 1)
    _run(store.save(DialogueStateTracker.from_events(sender, first, DOMAIN.slots)))
    tracker = _run(store.retrieve(sender))
    for event in _turn("two", now + 2):
        tracker.update(event)
    _run(store.save(tracker))
    return tracker


def _rasa_loads(store: SQLTrackerStore, sender: str) -> List[Any]:
    return _dicts(_run(tracker_sql.RASA_RETRIEVE(store, sender, fetch_events_from_all_sessions=False)))


def test_a_new_tracker_is_not_kept_until_the_store_has_loaded_it(tmp_path: Path) -> None:
    store = _store(tmp_path)
    now = time.time()
    fresh = DialogueStateTracker.from_events("k0", _session_start(now) + _turn("one", now + 1), DOMAIN.slots)
    _run(store.save(fresh))
    loaded = _run(store.retrieve("k0"))
    # The fresh tracker holds action_session_start, which Rasa's session filter leaves out.
    assert loaded is not fresh
    assert _dicts(loaded) == _rasa_loads(store, "k0")


def test_the_next_turn_reuses_the_kept_tracker_which_matches_the_database(tmp_path: Path) -> None:
    store = _store(tmp_path)
    saved = _loaded_and_saved(store, "k1", time.time())
    again = _run(store.retrieve("k1"))
    assert again is saved
    assert _dicts(again) == _rasa_loads(store, "k1")
    assert again.get_slot("answer_outcome") == "answered"


def test_a_turn_written_by_another_worker_is_loaded_from_the_database(tmp_path: Path) -> None:
    store = _store(tmp_path)
    other = _store(tmp_path)
    now = time.time()
    saved = _loaded_and_saved(store, "k2", now)
    elsewhere = _run(other.retrieve("k2"))
    for event in _turn("three, on the other worker", now + 3):
        elsewhere.update(event)
    _run(other.save(elsewhere))
    again = _run(store.retrieve("k2"))
    assert again is not saved
    assert _dicts(again) == _rasa_loads(store, "k2")
    texts = [e.get("text") for e in _dicts(again) if e["event"] == "user"]
    assert texts == ["one", "two", "three, on the other worker"]


def test_a_tracker_with_unsaved_events_is_not_reused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    now = time.time()
    saved = _loaded_and_saved(store, "k3", now)
    # A turn that failed before its save leaves events only in memory.
    saved.update(UserUttered("lost", {"name": "ask_question", "confidence": 0.9}, timestamp=now + 3))
    again = _run(store.retrieve("k3"))
    assert again is not saved
    assert _dicts(again) == _rasa_loads(store, "k3")
    assert "lost" not in [e.get("text") for e in _dicts(again)]


def test_a_new_session_is_loaded_from_the_database(tmp_path: Path) -> None:
    store = _store(tmp_path)
    now = time.time()
    saved = _loaded_and_saved(store, "k4", now)
    for event in _session_start(now + 10) + _turn("after a break", now + 11):
        saved.update(event)
    _run(store.save(saved))
    again = _run(store.retrieve("k4"))
    assert again is not saved
    assert _dicts(again) == _rasa_loads(store, "k4")
    assert [e.get("text") for e in _dicts(again) if e["event"] == "user"] == ["after a break"]


def test_the_store_keeps_a_bounded_number_of_trackers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracker_sql, "CACHED_TRACKERS", 2)
    store = _store(tmp_path)
    now = time.time()
    trackers = {sender: _loaded_and_saved(store, sender, now) for sender in ("a", "b", "c")}
    assert list(tracker_sql._kept(store)) == ["b", "c"]
    assert _run(store.retrieve("a")) is not trackers["a"]
    assert _run(store.retrieve("c")) is trackers["c"]
