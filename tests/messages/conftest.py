from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.messages import channels, tasks
from patron.messages.kinds import Channel
from patron.messages.providers import wechat


@pytest.fixture(autouse=True)
def _deliveries_in_test_transaction(
    sessions: Callable[[], Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delivery task (immediate mode) opens its transaction on the test's connection."""

    @contextmanager
    def transaction() -> Iterator[Session]:
        with sessions() as session:
            yield session
            session.commit()

    monkeypatch.setattr(tasks, "transaction", transaction)
    wechat.forget_tokens()


@pytest.fixture
def log_channels(session: Session) -> None:
    for channel in Channel:
        channels.put(session, SYSTEM, channel, "log", True, {"inbound_token": "in-token-1"})
