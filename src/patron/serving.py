"""How `patron serve` talks HTTP: uvicorn's httptools protocol, each keep-alive connection
closed after `PATRON_REQUESTS_PER_CONNECTION` requests (what nginx calls `keepalive_requests`)."""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from patron.core.settings import get_settings


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
