from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from patron.core import clock
from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.deps import OneHopRouter, SessionDep, require
from patron.segments import permissions, service
from patron.segments.errors import InvalidRule
from patron.segments.schemas import PreviewIn, PreviewOut

router = OneHopRouter(tags=["segments"])
Previewer = Annotated[Actor, Depends(require(permissions.PREVIEW))]


@router.post("/segments/preview", response_model=PreviewOut, responses=errors(InvalidRule))
def preview(data: PreviewIn, session: SessionDep, actor: Previewer) -> PreviewOut:
    """How many members the rule matches now (store-scoped callers: of their stores), and the
    first 20 of their ids. An invalid rule answers 422 `invalid_rule` with `line`, `column` and
    `expected`."""
    found = service.preview(session, actor, data.rule, clock.now())
    return PreviewOut(count=found.count, sample=found.sample)
