"""Which Telegram updates were already handled, so a redelivery is answered once.

Telegram delivers an update again when the webhook does not answer in time
or answers with an error. With one Rasa process an in-memory record is
enough; with several workers (``make run-scaled``) a redelivery can reach
another worker, so the record is kept in the Redis the workers already share
for their conversation locks.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Optional, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# Telegram gives up redelivering an update well within a day.
SEEN_TTL_SECONDS = 24 * 60 * 60
SEEN_KEY_PREFIX = "imiquimodfaq:telegram:update:"


class HandledUpdates(Protocol):
    """A record of handled update ids."""

    async def first_time(self, update_id: Optional[int]) -> bool:
        """Record an update id and say whether it is new (an update without an id always is)."""

    async def forget(self, update_id: Optional[int]) -> None:
        """Forget an update id, so that Telegram's redelivery is handled."""

    async def close(self) -> None:
        """Release the record's connections."""


class SeenUpdates:
    """The update ids handled lately by this process.

    Bounded (least recently seen ids are forgotten first) and in memory, so
    it covers Telegram's retries to this process, not a restart or replicas.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        """Create an empty record.

        Args:
            capacity: How many update ids to remember.
        """
        self._capacity = capacity
        self._ids: OrderedDict[int, None] = OrderedDict()

    async def first_time(self, update_id: Optional[int]) -> bool:
        """Record an update id and say whether it is new (an update without an id always is)."""
        if update_id is None:
            return True
        if update_id in self._ids:
            self._ids.move_to_end(update_id)
            return False
        self._ids[update_id] = None
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True

    async def forget(self, update_id: Optional[int]) -> None:
        """Forget an update id, so that Telegram's redelivery is handled."""
        if update_id is not None:
            self._ids.pop(update_id, None)

    async def close(self) -> None:
        """Nothing to release."""


class SharedSeenUpdates:
    """The update ids handled lately by any worker, kept in Redis.

    Each id is set only if absent (``SET NX``) with an expiry, so exactly one
    worker wins an update. When Redis cannot be reached the update is
    treated as new: answering a patient twice is better than not at all.
    """

    def __init__(
        self,
        host: str,
        port: int = 6379,
        db: int = 0,
        ttl_seconds: int = SEEN_TTL_SECONDS,
        key_prefix: str = SEEN_KEY_PREFIX,
    ) -> None:
        """Create the record; no connection is made until first use.

        Args:
            host: Redis host.
            port: Redis port.
            db: Redis database number.
            ttl_seconds: How long an id is remembered.
            key_prefix: Prefix of the keys.
        """
        self._redis = aioredis.Redis(host=host, port=port, db=db, socket_timeout=2, socket_connect_timeout=2)
        self._ttl = ttl_seconds
        self._prefix = key_prefix

    async def first_time(self, update_id: Optional[int]) -> bool:
        """Record an update id for every worker and say whether it is new."""
        if update_id is None:
            return True
        try:
            return bool(await self._redis.set(f"{self._prefix}{update_id}", 1, nx=True, ex=self._ttl))
        except (RedisError, OSError) as error:
            logger.warning(
                "Telegram: Redis unavailable (%s); update %s treated as new", type(error).__name__, update_id
            )
            return True

    async def forget(self, update_id: Optional[int]) -> None:
        """Forget an update id for every worker, so that Telegram's redelivery is handled."""
        if update_id is None:
            return
        try:
            await self._redis.delete(f"{self._prefix}{update_id}")
        except (RedisError, OSError) as error:
            logger.warning("Telegram: Redis unavailable (%s); update %s not forgotten", type(error).__name__, update_id)

    async def close(self) -> None:
        """Close the Redis connections."""
        await self._redis.close()


def handled_updates(redis_host: Optional[str], redis_port: Optional[str], redis_db: Optional[str]) -> HandledUpdates:
    """Choose the record: shared in Redis when the workers have one, else in this process.

    Args:
        redis_host: Redis host, or empty for an in-memory record.
        redis_port: Redis port (6379 when empty).
        redis_db: Redis database number (0 when empty).

    Returns:
        The record of handled updates.
    """
    if not redis_host:
        return SeenUpdates()
    return SharedSeenUpdates(redis_host, int(redis_port or 6379), int(redis_db or 0))


__all__ = ["HandledUpdates", "SeenUpdates", "SharedSeenUpdates", "handled_updates"]
