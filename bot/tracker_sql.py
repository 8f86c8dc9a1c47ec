"""A cheaper read and write path for Rasa's SQL tracker store (SQLite and PostgreSQL).

Profiling the Rasa server under load showed about 40% of its time in
``SQLTrackerStore``: building and compiling ORM queries, creating ORM objects
for every stored event, and a ``COUNT`` query before each save. The store
keeps Rasa's table, columns and semantics; only the way it talks to the
database changes:

- **Read**: one plain SQL statement, the same filter as Rasa's (the events
  since the latest ``session_started``, ordered by id), run without the ORM.
- **Connections**: SQLAlchemy 1.4 opens and closes a new SQLite connection for
  every use (``NullPool``), and each new connection sets its pragmas; the fast
  path keeps a small pool of SQLite connections. PostgreSQL connections come
  from Rasa's own pool.
- **Write**: the tracker remembers how many of its events are already in the
  database (the ones it was loaded with, plus each save), so a save inserts
  the new events with one ``executemany`` and no ``COUNT``. A tracker that was
  not loaded by this store (a new one, or one built by the HTTP API) falls
  back to Rasa's own count.
- **Between turns**: after a save, the tracker is kept in memory with the id
  of the conversation's newest stored row (at most ``CACHED_TRACKERS``
  conversations). The next load asks the database only for that id; when it
  is unchanged (no other worker wrote to the conversation) and the tracker
  holds no unsaved events, the kept tracker is the one the database would
  give, and loading and replaying every stored event (about 15% of the
  server's time under load, growing with the conversation) is skipped. Only
  trackers this store loaded are kept, and not across a new session, so the
  kept events are exactly the rows Rasa's own load returns (tested).

Conversations stay consistent across several Rasa workers because Rasa's lock
store serialises the turns of one conversation, and a worker that did not
write a conversation's newest row loads it again.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool

logger = logging.getLogger(__name__)

# The number of a tracker's events known to be stored; set on trackers this store loads or saves.
STORED_ATTRIBUTE = "_stored_event_count"
# Rasa's own methods, kept for the fallback and for tests that compare the two paths.
RASA_RETRIEVE = SQLTrackerStore._retrieve
RASA_SAVE = SQLTrackerStore.save
# How many conversations' trackers each store keeps in memory between turns.
CACHED_TRACKERS = 512


@dataclass
class _Kept:
    """A tracker kept between turns, with what the database held when it was kept."""

    tracker: DialogueStateTracker
    newest_row: int


def _placeholder(store: SQLTrackerStore) -> str:
    """The DB-API placeholder of the store's driver (``?`` for sqlite3, ``%s`` for psycopg2)."""
    return "?" if store.engine.dialect.paramstyle == "qmark" else "%s"


def _statements(store: SQLTrackerStore) -> Dict[str, str]:
    """Build (once per store) the SQL the fast path runs."""
    cached = store.__dict__.get("_fast_sql")
    if cached is None:
        p = _placeholder(store)
        table = SQLTrackerStore.SQLEvent.__tablename__
        latest_start = f"(SELECT max(timestamp) FROM {table} WHERE sender_id = {p} AND type_name = {p})"
        cached = {
            "latest_session": (
                f"SELECT id, data FROM {table} WHERE sender_id = {p} "
                f"AND (timestamp >= {latest_start} OR {latest_start} IS NULL) ORDER BY id"
            ),
            "all_sessions": f"SELECT id, data FROM {table} WHERE sender_id = {p} ORDER BY id",
            "newest_row": f"SELECT max(id) FROM {table} WHERE sender_id = {p}",
            "insert": (
                f"INSERT INTO {table} (sender_id, type_name, timestamp, intent_name, action_name, data) "
                f"VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
            ),
        }
        store.__dict__["_fast_sql"] = cached
    return cached


def _engine(store: SQLTrackerStore) -> Engine:
    """The engine the fast path uses: a pooled one for SQLite, Rasa's own otherwise."""
    engine = store.__dict__.get("_fast_engine")
    if engine is None:
        engine = store.engine
        if engine.dialect.name == "sqlite":
            # One event loop thread uses the connections; the pool hands each to one user at a time.
            engine = sa.create_engine(
                engine.url, poolclass=QueuePool, pool_size=4, connect_args={"check_same_thread": False}
            )
        store.__dict__["_fast_engine"] = engine
    return engine


def _kept(store: SQLTrackerStore) -> OrderedDict[str, _Kept]:
    """The store's trackers kept between turns, least recently used first."""
    kept = store.__dict__.get("_fast_kept")
    if kept is None:
        kept = store.__dict__["_fast_kept"] = OrderedDict()
    return kept


def _keep(store: SQLTrackerStore, tracker: DialogueStateTracker, newest_row: int) -> None:
    kept = _kept(store)
    kept[tracker.sender_id] = _Kept(tracker, newest_row)
    kept.move_to_end(tracker.sender_id)
    while len(kept) > CACHED_TRACKERS:
        kept.popitem(last=False)


async def _retrieve(
    self: SQLTrackerStore, sender_id: str, fetch_events_from_all_sessions: bool
) -> Optional[DialogueStateTracker]:
    """Load a conversation's events with one plain query (same rows as Rasa's), or reuse the kept tracker."""
    sql = _statements(self)
    with _engine(self).connect() as connection:
        if fetch_events_from_all_sessions:
            rows = connection.exec_driver_sql(sql["all_sessions"], (sender_id,)).fetchall()
        else:
            kept = _kept(self).pop(sender_id, None)
            # A tracker with events its last save did not store (a turn that failed) is not reused.
            if kept is not None and getattr(kept.tracker, STORED_ATTRIBUTE, None) == len(kept.tracker.events):
                newest = connection.exec_driver_sql(sql["newest_row"], (sender_id,)).scalar()
                if newest == kept.newest_row:
                    _keep(self, kept.tracker, kept.newest_row)
                    return kept.tracker
            start = SessionStarted.type_name
            parameters = (sender_id, sender_id, start, sender_id, start)
            rows = connection.exec_driver_sql(sql["latest_session"], parameters).fetchall()
    if not rows or not self.domain:
        logger.debug("No stored conversation for this sender id.")
        return None
    tracker = DialogueStateTracker.from_dict(sender_id, [json.loads(row[1]) for row in rows], self.domain.slots)
    if not fetch_events_from_all_sessions:
        # Exactly what Rasa's save would count as already stored.
        setattr(tracker, STORED_ATTRIBUTE, len(rows))
        _keep(self, tracker, rows[-1][0])
    return tracker


def _row(sender_id: str, event: Any) -> tuple:
    data: Dict[str, Any] = event.as_dict()
    intent = data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY)
    return (sender_id, event.type_name, data.get("timestamp"), intent, data.get("name"), json.dumps(data))


async def _save(self: SQLTrackerStore, tracker: DialogueStateTracker) -> None:
    """Insert the tracker's events that are not stored yet, in one transaction, and keep the tracker."""
    await self.stream_events(tracker)
    stored: Optional[int] = getattr(tracker, STORED_ATTRIBUTE, None)
    loaded = stored is not None and stored <= len(tracker.events)
    if not loaded:
        with self.session_scope() as session:
            new_events: List[Any] = list(self._additional_events(session, tracker))
    else:
        new_events = list(itertools.islice(tracker.events, stored, len(tracker.events)))
    kept = _kept(self)
    if new_events:
        rows = [_row(tracker.sender_id, event) for event in new_events]
        sql = _statements(self)
        with _engine(self).begin() as connection:
            connection.exec_driver_sql(sql["insert"], rows)
            newest = connection.exec_driver_sql(sql["newest_row"], (tracker.sender_id,)).scalar()
        # Keep only a tracker whose events are exactly the rows Rasa would load:
        # one this store loaded, still in the same session.
        if loaded and not any(isinstance(event, SessionStarted) for event in new_events):
            _keep(self, tracker, newest)
        else:
            kept.pop(tracker.sender_id, None)
    elif not loaded:
        kept.pop(tracker.sender_id, None)
    setattr(tracker, STORED_ATTRIBUTE, len(tracker.events))


def apply() -> None:
    """Install the fast read and write path on Rasa's ``SQLTrackerStore`` (idempotent)."""
    SQLTrackerStore._retrieve = _retrieve  # type: ignore[method-assign]
    SQLTrackerStore.save = _save  # type: ignore[method-assign]
