"""The unsubscribe link of marketing e-mails (`/u/<token>`, List-Unsubscribe): GET shows a
confirmation page; POST withdraws the consent, from that page's button or from a mail client's
one-click request (RFC 8058), which carries no cookie and no form token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from patron.console.web import Tx, render
from patron.messages import inbound, unsubscribe

router = APIRouter(include_in_schema=False)
Token = Annotated[str, Path(max_length=200)]


@router.get("/u/{token}")
def unsubscribe_page(request: Request, token: Token) -> HTMLResponse:
    found = unsubscribe.read_token(token)
    return render(
        request,
        "messages/unsubscribe.html",
        status=200 if found else 404,
        state="confirm" if found else "invalid",
        channel=found[1].value if found else "",
        token=token,
        lang_names={},
    )


@router.post("/u/{token}")
def unsubscribe_now(request: Request, token: Token, session: Tx) -> HTMLResponse:
    found = inbound.unsubscribe_by_token(session, token)
    return render(
        request,
        "messages/unsubscribe.html",
        status=200 if found else 404,
        state="done" if found else "invalid",
        channel=found[1].value if found else "",
        token=token,
        lang_names={},
    )
