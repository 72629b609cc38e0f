"""/m/check-in (签到): the month's calendar with the days checked in, the streak, a big
check-in button, and after it the day's reward and what tomorrow gives. The same service as
the member API; the unique (member, business day) row keeps it to once a day."""

from __future__ import annotations

import calendar as months
from dataclasses import dataclass
from datetime import date, timedelta

from babel.dates import format_skeleton
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from patron.check_ins import service
from patron.console.i18n import translator
from patron.console.web import attempt
from patron.core.errors import PatronError
from patron.member_page.web import (
    PREFIX,
    CheckedForm,
    MemberPageDep,
    Tx,
    lang_of,
    redirect,
    render,
)

router = APIRouter()
PAGE_URL = f"{PREFIX}/check-in"


@dataclass(frozen=True)
class Cell:
    day: date | None  # None: a blank before the 1st or after the last day
    checked: bool = False
    streak: int = 0
    today: bool = False
    future: bool = False


def month_of(text: str | None, today: date) -> date:
    """`YYYY-MM` as the month's first day; this month for anything else."""
    if text and len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit():
        year, month = int(text[:4]), int(text[5:])
        if 2000 <= year <= 2100 and 1 <= month <= 12:
            return date(year, month, 1)
    return today.replace(day=1)


def weeks(first: date, checked: dict[date, int], today: date) -> list[list[Cell]]:
    """The month as weeks from Monday."""
    grid = months.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    return [
        [
            Cell(d, d in checked, checked.get(d, 0), d == today, d > today)
            if d.month == first.month
            else Cell(None)
            for d in week
        ]
        for week in grid
    ]


@router.get("/check-in")
def check_in_page(
    request: Request,
    session: Tx,
    actor: MemberPageDep,
    month: str | None = None,
    done: str | None = None,
) -> HTMLResponse:
    assert actor.id is not None
    today_month = service.calendar(session, actor, actor.id)
    first = month_of(month, today_month.today)
    found = (
        today_month
        if first == today_month.month
        else service.calendar(session, actor, actor.id, first)
    )
    locale = translator(lang_of(request)).locale
    checked = {c.business_day: c.streak for c in found.days}
    previous = (first - timedelta(days=1)).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return render(
        request,
        "m/check_ins/index.html",
        section="check_in",
        found=today_month,
        month_label=format_skeleton("yMMMM", first, locale=locale),
        weeks=weeks(first, checked, today_month.today),
        month_count=len(found.days),
        previous_url=f"{PAGE_URL}?month={previous:%Y-%m}",
        next_url=f"{PAGE_URL}?month={following:%Y-%m}"
        if following <= today_month.today.replace(day=1)
        else None,
        this_month=first == today_month.month,
        just_done=done == "1" and today_month.checked_in is not None,
    )


@router.post("/check-in")
def check_in(request: Request, session: Tx, actor: MemberPageDep, form: CheckedForm) -> Response:
    """Check in, then show the page with the day's reward. A second tap (already_checked_in),
    a program turned off meanwhile, or any other refusal just shows the page as it is."""
    assert actor.id is not None
    try:
        with attempt(session):
            service.check_in(session, actor, actor.id)
    except PatronError:
        return redirect(PAGE_URL)
    return redirect(f"{PAGE_URL}?done=1")
