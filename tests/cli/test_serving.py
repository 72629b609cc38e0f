"""`patron serve`'s HTTP protocol: a keep-alive connection is closed after
PATRON_REQUESTS_PER_CONNECTION requests, so that clients reconnect and spread over the workers."""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from patron.cli import listening_socket
from patron.core.settings import get_settings
from patron.serving import RecyclingProtocol


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("PATRON_REQUESTS_PER_CONNECTION", "3")
    get_settings.cache_clear()
    sock = listening_socket("127.0.0.1", 0)
    config = uvicorn.Config(hello, http=RecyclingProtocol, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join()
    get_settings.cache_clear()


def test_a_connection_is_closed_after_its_requests(port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    answers = []
    for _ in range(4):
        connection.request("GET", "/")
        response = connection.getresponse()
        answers.append((response.read(), response.getheader("connection")))
    assert answers[:3] == [(b"ok", None), (b"ok", None), (b"ok", "close")]
    assert answers[3] == (b"ok", None)  # the client opened the connection again
