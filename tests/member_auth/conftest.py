from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.messages import channels, tasks
from patron.messages.kinds import Channel
from patron.messages.templates import MEMBER_SIGN_IN_CODE

CODE = re.compile(r"\d{6}")


class SmsLog(logging.Handler):
    """The `log` SMS provider's lines, as a developer reads them: the sign-in codes sent."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record)

    def codes(self) -> list[str]:
        found = []
        for record in self.lines:
            if getattr(record, "template", None) == MEMBER_SIGN_IN_CODE:
                match = CODE.search(str(getattr(record, "body", "")))
                assert match, record.__dict__
                found.append(match.group(0))
        return found

    def last_code(self, wait: float = 5.0) -> str:
        """The last code sent (waiting a little: delivery follows the request's commit)."""
        deadline = time.monotonic() + wait
        while not (codes := self.codes()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert codes, "no sign-in code was sent"
        return codes[-1]


@pytest.fixture
def sms_log() -> Iterator[SmsLog]:
    handler = SmsLog()
    logger = logging.getLogger("patron.messages")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture(autouse=True)
def _deliveries_in_test_transaction(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deliveries on the test's connection, except in browser tests (their server's own)."""
    if request.node.get_closest_marker("browser"):
        return
    sessions: Callable[[], Session] = request.getfixturevalue("sessions")

    @contextmanager
    def transaction() -> Iterator[Session]:
        with sessions() as session:
            yield session
            session.commit()

    monkeypatch.setattr(tasks, "transaction", transaction)


@pytest.fixture
def sms_on(session: Session) -> None:
    channels.put(session, SYSTEM, Channel.sms, "log", True, {})
    session.flush()
