"""`patron tags list` and `patron tags refresh`, on an SQLite file."""

from __future__ import annotations

import pytest

from patron.core import db
from patron.core.actor import SYSTEM
from patron.tags import service
from patron.tags.schemas import TagCreate
from tests.cli.test_cli import cli_database, invoke  # noqa: F401 (a fixture)
from tests.conftest import TEST_SECRET


@pytest.mark.usefixtures("cli_database")
def test_list_shows_each_tag_with_its_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATRON_SECRET_KEY", TEST_SECRET)
    invoke("db", "upgrade")
    with db.transaction() as session:
        service.create_tag(session, SYSTEM, TagCreate(name="投诉"))
    listed = " ".join(invoke("tags", "list").split())
    assert "投诉 │ manual │ 0" in listed
