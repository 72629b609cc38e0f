"""Per-process caches of rows read on every request (an API key, the points policy and rules) that
change rarely. An entry lives a few seconds, so a change made by another process takes effect
within that time; the process that makes a change drops the entry at once and again when its
transaction ends, so nothing read inside an uncommitted change outlives it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session, object_session

ValueT = TypeVar("ValueT")
TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000

_caches: list[TtlCache[Any]] = []


def seconds() -> float:
    return time.monotonic()


class TtlCache(Generic[ValueT]):
    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self.ttl = ttl
        self._entries: dict[Hashable, tuple[float, ValueT]] = {}
        self._lock = threading.Lock()
        _caches.append(self)

    def get(self, key: Hashable, load: Callable[[], ValueT | None]) -> ValueT | None:
        """The cached value, or what `load` returns (kept unless None)."""
        found = self._entries.get(key)
        now = seconds()
        if found is not None and found[0] > now:
            return found[1]
        value = load()
        if value is not None:
            with self._lock:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = (now + self.ttl, value)
        return value

    def drop(self, key: Hashable | None = None) -> None:
        """Forget one entry, or every entry."""
        with self._lock:
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)

    def changed_in(self, session: Session, key: Hashable | None = None) -> None:
        """The session changed what this cache holds: forget it now and when the session's
        transaction commits or rolls back."""
        self.drop(key)
        for moment in ("after_commit", "after_rollback"):
            event.listen(session, moment, lambda *_: self.drop(key), once=True)


def drop_on_change(cache: TtlCache[Any], model: type, *moments: str) -> None:
    """Forget `cache` whenever a session flushes a change to a `model` row, however made."""

    def dropped(_mapper: Any, _connection: Any, target: Any) -> None:
        session = object_session(target)
        if session is None:
            cache.drop()
        else:
            cache.changed_in(session)

    for moment in moments:
        event.listen(model, moment, dropped)


def clear_all() -> None:
    """Forget every cached value (tests roll their database back between them)."""
    for cache in _caches:
        cache.drop()
