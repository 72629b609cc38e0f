"""One way for a domain to plug its part into another's work without the other importing it:
event subscribers, and what merge, erasure, export and the timeline of a member collect."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


class Hook(Generic[HandlerT]):
    """Named handlers, run in the order they registered. A name registers once: registering it
    again (a module imported twice, a test) replaces its handler in place."""

    def __init__(self, purpose: str) -> None:
        self.purpose = purpose
        self._handlers: dict[str, HandlerT] = {}

    def register(self, name: str) -> Callable[[HandlerT], HandlerT]:
        def add(handler: HandlerT) -> HandlerT:
            self._handlers[name] = handler
            return handler

        return add

    def unregister(self, name: str) -> None:
        self._handlers.pop(name, None)

    def names(self) -> list[str]:
        return list(self._handlers)

    def items(self) -> list[tuple[str, HandlerT]]:
        return list(self._handlers.items())

    def __iter__(self) -> Iterator[HandlerT]:
        # A copy: a handler may register or unregister while the hook runs.
        return iter(list(self._handlers.values()))
