"""Merge, erasure and the PIPL export check the members' permissions themselves: a CLI command or a job
acting with the wrong role is refused just as an API caller is."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from patron.core.actor import Actor, Role
from patron.core.errors import Forbidden
from patron.members import merge, privacy
from patron.members.models import MemberStatus
from tests.factories import make_member, make_store

# A caller outside the API: the service alone stands between it and the members.
STORE_JOB = Actor(kind="system", id=None, name="store job", role=Role.store_manager, store_ids=None)


def test_a_store_manager_cannot_merge_members(session: Session) -> None:
    store = make_store(session)
    source, target = make_member(session, store), make_member(session, store)
    with pytest.raises(Forbidden):
        merge.merge_members(session, STORE_JOB, source.id, target.id)
    assert (source.status, target.status) == (MemberStatus.active, MemberStatus.active)


def test_a_store_manager_cannot_erase_or_export_a_member(session: Session) -> None:
    member = make_member(session, make_store(session), name="李娜")
    with pytest.raises(Forbidden):
        privacy.erase_member(session, STORE_JOB, member.id, "本人申请注销")
    with pytest.raises(Forbidden):
        privacy.export_member(session, STORE_JOB, member.id)
    assert (member.status, member.name) == (MemberStatus.active, "李娜")
