"""How `patron serve` talks HTTP: uvicorn's httptools protocol, each keep-alive connection
closed after `PATRON_REQUESTS_PER_CONNECTION` requests (what nginx calls `keepalive_requests`);
and the app each of its worker processes builds, with the task queue pointed at its storage."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from patron.core import tasks
from patron.core.settings import get_settings


def create_app() -> FastAPI:
    """The served app: as `patron.app.create_app`, but what its requests enqueue goes to the
    queue's storage (SQLite in data_dir or Redis) for the consumer, not run in the request.
    uvicorn's worker processes are spawned, so each configures the queue itself."""
    from patron import app

    settings = get_settings()
    if tasks.huey.immediate:  # not yet (a worker process; `patron serve` configured its own)
        tasks.configure(settings)
    return app.create_app(settings)


class RecyclingProtocol(HttpToolsProtocol):
    """Worker processes share one listening socket, and a connection stays with the worker that
    accepted it: a till's eight connections, opened at once, were seen split 7/1, one worker
    saturated while the other idled. A connection closed after a number of responses is opened
    again by its client, and the worker waiting in `epoll` (the idle one) accepts it first, so the
    load evens out within seconds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests_left = get_settings().requests_per_connection

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self.requests_left -= 1
        if self.requests_left <= 0 and self.cycle is not None:
            self.cycle.keep_alive = False  # the answer says `connection: close`
